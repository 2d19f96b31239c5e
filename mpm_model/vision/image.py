"""sensor_msgs/Image-like objects ↔ numpy RGB, one function each way.

cv_bridge is used where it is installed (a real ROS install); otherwise the numpy path. Accepted: rgb8, bgr8,
mono8. Anything else — 16-bit depth/IR images in particular — is refused with a clear error instead of being
silently rescaled into a wrong picture."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
SIXTEEN_BIT = ("mono16", "rgb16", "bgr16", "rgba16", "bgra16", "16UC1", "16UC3", "16SC1", "16UC4")


class ImageError(ValueError):
    """An image that cannot be used; `reason` is the diagnostics counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _check_encoding(encoding: str) -> None:
    if encoding in SIXTEEN_BIT:
        raise ImageError("unsupported_encoding", f"16-bit image encoding {encoding!r} refused: the pose detector "
                         "needs an 8-bit colour or grey image (rgb8, bgr8, mono8); publish the camera's colour "
                         "stream or convert to 8 bit first")
    if encoding not in CHANNELS:
        raise ImageError("unsupported_encoding",
                         f"image encoding {encoding!r} is not supported; use one of {sorted(CHANNELS)}")


@functools.lru_cache(maxsize=1)
def installed_bridge() -> Any:
    """A cv_bridge.CvBridge when cv_bridge is importable (real ROS install), else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def image_to_rgb(msg: Any, bridge: Any = None) -> np.ndarray:
    """Image message (height, width, encoding, is_bigendian, step, data) → (H, W, 3) uint8 RGB, C-contiguous.

    `bridge`: a cv_bridge.CvBridge; None = the installed one if any, else the numpy path."""
    _check_encoding(msg.encoding)
    bridge = installed_bridge() if bridge is None else bridge
    if bridge is not None:
        rgb = bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8")
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, step, channels = int(msg.height), int(msg.width), int(msg.step), CHANNELS[msg.encoding]
    data = np.frombuffer(bytes(msg.data) if isinstance(msg.data, list) else msg.data, np.uint8)
    if height <= 0 or width <= 0 or step < width * channels or data.size < step * height:
        raise ImageError("bad_image", f"{msg.encoding} image {width}x{height} with step {step} needs "
                         f"{step * height} bytes and step >= {width * channels}, got {data.size} bytes")
    pixels = data[:step * height].reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    if msg.encoding == "mono8":
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    return np.ascontiguousarray(pixels)


def rgb_to_image_fields(rgb: np.ndarray) -> dict[str, Any]:
    """(H, W, 3) uint8 RGB → the fields of an rgb8 sensor_msgs/Image (header excluded)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB, got {rgb.shape}")
    height, width = rgb.shape[:2]
    return {"height": height, "width": width, "encoding": "rgb8", "is_bigendian": 0, "step": width * 3,
            "data": rgb.tobytes()}
