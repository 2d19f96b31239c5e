"""CameraHistory: the right camera_info for each keypoint frame (by frame_id and stamp), and the two attacks of
issue 19 — another camera's camera_info, and a resolution change with keypoints arriving late — never placed
with the wrong intrinsics."""
from __future__ import annotations

import numpy as np

from mpm_model.streaming.camera import FRAME_MISMATCH, INTRINSICS_CHANGED, Camera, CameraHistory
from mpm_model.streaming.placement import estimate_root_translation

PERIOD = 33_333_333


def camera(size: int, focal: float) -> Camera:
    return Camera(size, size, np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]]))


def project(points: np.ndarray, cam: Camera) -> np.ndarray:
    k = cam.intrinsics
    return points[:, :2] / points[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]


def skeleton() -> np.ndarray:
    joints = np.random.default_rng(0).normal(scale=0.4, size=(17, 3))
    return joints - joints[0]


def test_other_cameras_info_with_twice_the_focal_length_is_never_used() -> None:
    """cam_left keypoints, camera_info only from cam_right (2x focal): a mismatch, not a root at twice the range."""
    history = CameraHistory()
    left, right = camera(1000, 1145.0), camera(1000, 2290.0)
    for frame in range(30):
        history.add(frame * PERIOD, "cam_right_optical", right)
    match = history.match(29 * PERIOD, "cam_left_optical")
    assert match.problem == FRAME_MISMATCH and match.camera.intrinsics is None
    assert (match.camera.width, match.camera.height) == (1000, 1000)  # still an image size for normalising
    for frame in range(30):  # once cam_left's own camera_info is there, it is used (leading '/' ignored)
        history.add(frame * PERIOD, "/cam_left_optical", left)
    match = history.match(29 * PERIOD, "cam_left_optical")
    assert match.problem is None and np.array_equal(match.camera.intrinsics, left.intrinsics)
    truth = np.array([0.5, 0.2, 14.1])
    pixels = project(skeleton() + truth, left)
    np.testing.assert_allclose(estimate_root_translation(skeleton(), pixels, np.ones(17), match.camera.intrinsics),
                               truth, atol=1e-6)


def test_resolution_change_with_keypoints_five_frames_late() -> None:
    """camera_info switches 500x500 → 1000x1000 at frame 50; keypoints arrive 5 frames behind camera_info.
    Frames 45-49 get the 500x500 intrinsics of their own stamps; without stamped history they would be refused."""
    history = CameraHistory()
    small, large = camera(500, 600.0), camera(1000, 1200.0)
    truth = np.array([0.3, -0.1, 6.0])
    for newest in range(60):
        history.add(newest * PERIOD, "cam", small if newest < 50 else large)
        frame = newest - 5
        if frame < 0:
            continue
        captured_with = small if frame < 50 else large
        match = history.match(frame * PERIOD, "cam")
        assert match.problem is None and np.array_equal(match.camera.intrinsics, captured_with.intrinsics)
        pixels = project(skeleton() + truth, captured_with)
        placed = estimate_root_translation(skeleton(), pixels, np.ones(17), match.camera.intrinsics)
        np.testing.assert_allclose(placed, truth, atol=1e-6)


def test_a_change_between_unmatched_stamps_is_refused() -> None:
    """camera_info only every 10th frame (not the keypoints' stamps): a keypoint frame between a 500 and a 1000 px
    camera_info cannot know which applies → INTRINSICS_CHANGED, intrinsics None (never placed)."""
    history = CameraHistory()
    small, large = camera(500, 600.0), camera(1000, 1200.0)
    history.add(40 * PERIOD, "cam", small)
    history.add(50 * PERIOD, "cam", large)
    match = history.match(45 * PERIOD, "cam")
    assert match.problem == INTRINSICS_CHANGED and match.camera.intrinsics is None
    assert history.match(55 * PERIOD, "cam").camera is large  # newer than all: the newest applies
    assert history.match(45 * PERIOD + 1, "cam").problem == INTRINSICS_CHANGED
    history.add(60 * PERIOD, "cam", large)
    assert history.match(55 * PERIOD, "cam").camera is large  # between two equal ones: fine


def test_history_is_bounded_and_empty_means_fallback() -> None:
    history = CameraHistory(keep_s=1.0)
    assert history.match(0, "cam").camera is None and not history
    for frame in range(300):
        history.add(frame * PERIOD, "cam", camera(500, 600.0))
    assert len(history._entries["cam"]) <= 31
    for i in range(20):  # a flood of made-up frame ids keeps at most MAX_CAMERA_FRAMES
        history.add(i, f"frame_{i}", camera(500, 600.0))
    assert len(history._entries) <= 8
