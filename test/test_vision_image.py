"""Image conversion: every accepted encoding, row padding, 16-bit and unknown encodings refused clearly."""
import numpy as np
import pytest
from sensor_msgs.msg import Image

from mpm_model.vision.image import ImageError, image_to_rgb, installed_bridge, rgb_to_image_fields

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 255, (5, 7, 3), dtype=np.uint8)


def image(encoding: str, pixels: np.ndarray, padding: int = 0) -> Image:
    rows = pixels.reshape(pixels.shape[0], -1)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], padding), rows.dtype)], axis=1)
    return Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, step=rows.shape[1],
                 data=rows.tobytes())


@pytest.mark.parametrize("padding", [0, 3])
def test_rgb8_bgr8_mono8(padding: int) -> None:
    assert installed_bridge() is None, "cv_bridge present: this test checks the numpy path"
    np.testing.assert_array_equal(image_to_rgb(image("rgb8", RGB, padding)), RGB)
    np.testing.assert_array_equal(image_to_rgb(image("bgr8", RGB[..., ::-1].copy(), padding)), RGB)
    grey = RGB[..., 0].copy()
    out = image_to_rgb(image("mono8", grey, padding))
    assert out.shape == (5, 7, 3) and (out == grey[..., None]).all() and out.flags.c_contiguous


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "rgb16"])
def test_16_bit_refused_with_a_clear_error(encoding: str) -> None:
    msg = image(encoding, np.zeros((5, 7, 2), np.uint8))
    with pytest.raises(ImageError, match="16-bit image encoding .* refused") as info:
        image_to_rgb(msg)
    assert info.value.reason == "unsupported_encoding"


def test_unknown_encoding_and_short_data() -> None:
    with pytest.raises(ImageError, match="not supported"):
        image_to_rgb(image("yuv422", np.zeros((5, 7, 2), np.uint8)))
    msg = image("rgb8", RGB)
    msg.data = msg.data[:-1]
    with pytest.raises(ImageError, match="needs 105 bytes") as info:
        image_to_rgb(msg)
    assert info.value.reason == "bad_image"


def test_round_trip_through_a_real_image_message() -> None:
    msg = Image(**rgb_to_image_fields(RGB))
    assert msg.encoding == "rgb8" and msg.step == 21
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


class BridgeLookAlike:
    """Stands in for cv_bridge.CvBridge (only in a real ROS install): records the requested encoding."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def imgmsg_to_cv2(self, msg: Image, desired_encoding: str) -> np.ndarray:
        self.calls.append(desired_encoding)
        return RGB


def test_cv_bridge_path_asks_for_rgb8_and_still_refuses_16_bit() -> None:
    bridge = BridgeLookAlike()
    np.testing.assert_array_equal(image_to_rgb(image("bgr8", RGB), bridge=bridge), RGB)
    assert bridge.calls == ["rgb8"]
    with pytest.raises(ImageError):
        image_to_rgb(image("mono16", np.zeros((5, 7, 2), np.uint8)), bridge=bridge)
    assert bridge.calls == ["rgb8"]
