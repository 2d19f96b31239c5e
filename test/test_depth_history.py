"""DepthHistory (pure): depth obeys camera_info's rules (issue 25 items 2-4). The header is checked before any
decode, a frame takes only an image of its own frame_id, and the bounded wait gives up when depth runs behind."""
import threading
import time

import numpy as np
import pytest

from mpm_model.streaming.camera import Camera
from mpm_model.streaming.depth import DepthImage
from mpm_model.streaming.depth_history import (ARRIVED_LATE, BEHIND, FRAME_MISMATCH, INVALID_IMAGE, NO_IMAGE,
                                               SIZE_MISMATCH, DepthHistory, DepthMatching, header_problem)

FRAME = "camera_optical_frame"
MS = 1_000_000
PERIOD_NS = 33 * MS
CAMERA = Camera(1000, 1000, np.eye(3))


def image(stamp_ns: int, size: int = 4) -> DepthImage:
    return DepthImage(np.full((size, size), 2.0, np.float32), stamp_ns)


def test_the_header_is_judged_before_any_decode() -> None:
    """A 4000x3000 16UC1 image for a 1000x1000 camera_info: refused from the header alone (size_mismatch)."""
    assert header_problem("16UC1", 4000, 3000, 8000, 8000 * 3000, CAMERA)[0] == SIZE_MISMATCH
    assert header_problem("rgb8", 1000, 1000, 3000, 3000 * 1000, CAMERA)[0] == INVALID_IMAGE
    assert header_problem("16UC1", 1000, 1000, 2000, 100, CAMERA)[0] == INVALID_IMAGE  # truncated buffer
    assert header_problem("16UC1", 1000, 1000, 1000, 1000 * 1000, CAMERA)[0] == INVALID_IMAGE  # step too short
    assert header_problem("16UC1", 1000, 1000, 2000, 2000 * 1000, CAMERA) is None
    assert header_problem("32FC1", 4000, 3000, 16000, 16000 * 3000, None) is None  # no camera: size unchecked


def test_a_frame_takes_only_an_image_of_its_own_frame_id() -> None:
    history = DepthHistory(8)
    history.add("other_cam_optical", image(10 * PERIOD_NS))
    found = history.find(10 * PERIOD_NS, FRAME)
    assert found.image is None and found.reason == FRAME_MISMATCH
    history.add("/" + FRAME, image(10 * PERIOD_NS))  # a leading slash is ignored, as tf2 does
    assert history.find(10 * PERIOD_NS, FRAME).image is not None
    assert history.find(11 * PERIOD_NS, "third_cam").reason == FRAME_MISMATCH  # depth streams, never in this frame


def test_stamp_tolerance_and_late_count() -> None:
    history = DepthHistory(8, DepthMatching(depth_tolerance=0.01))
    history.add(FRAME, image(0))
    assert history.find(5 * MS, FRAME).image is not None
    missed = history.find(100 * MS, FRAME)
    assert missed.image is None and missed.reason == NO_IMAGE
    assert history.add(FRAME, image(105 * MS)) == 1, ARRIVED_LATE
    assert history.add(FRAME, image(105 * MS)) == 0, "counted once"


def test_the_wait_brings_an_image_that_comes_just_after_its_keypoints() -> None:
    history = DepthHistory(8, DepthMatching(depth_wait=0.2, depth_tolerance=0.01))
    history.add(FRAME, image(0))
    timer = threading.Timer(0.05, lambda: history.add(FRAME, image(PERIOD_NS)))
    timer.start()
    started = time.monotonic()
    found = history.find(PERIOD_NS, FRAME)
    timer.join()
    assert found.image is not None and time.monotonic() - started < 0.19


@pytest.mark.parametrize("wait", [0.0, 0.2])
def test_depth_running_behind_is_not_waited_for(wait: float) -> None:
    """Depth stamped 0.5 s before its keypoints (issue 25 item 3): with depth_wait 0.2 the worker waited 0.2 s
    per frame (output capped at ~5 Hz). Now it does not wait at all, says why, and counts it."""
    history = DepthHistory(8, DepthMatching(depth_wait=wait, depth_tolerance=0.02))
    for k in range(20):
        history.keypoints_seen(k * PERIOD_NS)
        history.add(FRAME, image(k * PERIOD_NS - 500 * MS))
    assert history.lag_s() == pytest.approx(0.5) and history.behind()
    assert "0.500 s behind" in history.behind_problem()
    started = time.monotonic()
    found = history.find(19 * PERIOD_NS, FRAME)
    assert time.monotonic() - started < 0.05 and found.image is None
    assert found.reason == (BEHIND if wait else NO_IMAGE)


def test_depth_that_keeps_up_is_not_behind_and_recovers() -> None:
    history = DepthHistory(8, DepthMatching(depth_wait=0.2, depth_tolerance=0.02))
    for k in range(8):
        history.keypoints_seen(k * PERIOD_NS)
        history.add(FRAME, image(k * PERIOD_NS - 500 * MS))
    assert history.behind()
    for k in range(8, 16):  # depth catches up: the last LAG_IMAGES images decide
        history.keypoints_seen(k * PERIOD_NS)
        history.add(FRAME, image(k * PERIOD_NS))
    assert not history.behind() and history.behind_problem() is None
    slow = DepthHistory(8, DepthMatching(depth_wait=0.0, depth_tolerance=0.02))
    for k in range(0, 30, 6):  # a 5 Hz depth camera in step with 30 Hz keypoints is slower, not behind
        slow.keypoints_seen(k * PERIOD_NS)
        slow.add(FRAME, image(k * PERIOD_NS))
    assert not slow.behind()


def test_matching_is_validated() -> None:
    with pytest.raises(ValueError):
        DepthMatching(depth_wait=0.5)
    with pytest.raises(ValueError):
        DepthMatching(depth_tolerance=-0.1)
