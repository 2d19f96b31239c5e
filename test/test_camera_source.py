"""CameraSource (ROS-free): camera_infos matched by frame_id and stamp, kept as long as the model's output delay."""
import numpy as np

from mpm_model.streaming.camera import FRAME_MISMATCH
from mpm_ros.camera_source import CameraSource, FallbackCamera

SMALL = [572.5, 0, 250, 0, 572.5, 250, 0, 0, 1]
LARGE = [1145.0, 0, 500, 0, 1145.0, 500, 0, 0, 1]
PERIOD = 10**9 // 30


def test_fallback_until_a_camera_info_then_frame_and_stamp_match() -> None:
    source = CameraSource(FallbackCamera(focal_length=500.0))
    fallback = source.match(0, "cam").camera
    np.testing.assert_array_equal(fallback.intrinsics, FallbackCamera(focal_length=500.0).camera().intrinsics)
    assert source.update(500, 500, SMALL, "/cam", 0) is None
    assert source.match(5 * PERIOD, "cam").camera.width == 500
    other = source.match(5 * PERIOD, "other_cam")
    assert other.problem == FRAME_MISMATCH and other.camera.intrinsics is None
    assert source.update(0, 500, SMALL, "cam", PERIOD) is not None, "an insane camera_info is refused"


def switched(source: CameraSource) -> CameraSource:
    """camera_info at 30 Hz for frames 0-199, 500x500 until frame 129, then 1000x1000."""
    for frame in range(200):
        size, k = (500, SMALL) if frame < 130 else (1000, LARGE)
        assert source.update(size, size, k, "cam", frame * PERIOD) is None
    return source


def test_history_covers_a_centred_models_delay() -> None:
    """A T=243 centred model's outputs describe frames 4 s old (the node keeps delay + 1 s): frame 100, 3.3 s
    before the newest camera_info, still gets the 500x500 camera of its own stamp; the 2 s default forgot it."""
    kept = switched(CameraSource(FallbackCamera(), history_s=5.0)).match(100 * PERIOD, "cam")
    assert kept.problem is None
    np.testing.assert_array_equal(kept.camera.intrinsics, np.reshape(SMALL, (3, 3)))
    assert switched(CameraSource(FallbackCamera())).match(100 * PERIOD, "cam").camera.width == 1000
