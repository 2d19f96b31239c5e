"""Which camera the lifter projects with (ROS-free): the sane camera_info of the keypoints' own frame_id and stamp
(mpm_model.streaming.camera.CameraHistory), else — before any valid camera_info — the parameters' fallback.

camera_info often arrives a few frames after the first keypoints, so its absence is warned about only after
CAMERA_INFO_GRACE_S of keypoints. An insane camera_info (mpm_model.streaming.intrinsics_problem) is refused and
the last valid one stays in use. Depth and new camera inputs plug in here (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mpm_model.streaming import Camera, fallback_intrinsics, intrinsics_problem
from mpm_model.streaming.camera import CAMERA_HISTORY_MAX, CAMERA_HISTORY_S, CameraHistory, CameraMatch
from mpm_model.tunable import tunable

CAMERA_INFO_GRACE_S = 2.0  # keypoints may arrive before the first camera_info: warn only after this long


@dataclass(frozen=True)
class FallbackCamera:
    """The camera used until a valid camera_info arrives (the same sanity rules apply to it)."""

    image_width: int = tunable(640, "Image width in pixels used until camera_info arrives", 1, 100000)
    image_height: int = tunable(480, "Image height in pixels used until camera_info arrives", 1, 100000)
    focal_length: float = tunable(0.0, "Focal length in pixels used until camera_info arrives; 0 = unknown "
                                  "(outputs root-relative)", 0.0, 100000.0)

    def problem(self) -> str | None:
        """Why these intrinsics are not sane (None: fine, or no focal length given)."""
        k = fallback_intrinsics(self.image_width, self.image_height, self.focal_length)
        problem = None if k is None else intrinsics_problem(self.image_width, self.image_height, k)
        return None if problem is None else (f"focal_length={self.focal_length!r} with image_width="
                                             f"{self.image_width}, image_height={self.image_height}: {problem}")

    def camera(self) -> Camera:
        return Camera(self.image_width, self.image_height,
                      fallback_intrinsics(self.image_width, self.image_height, self.focal_length))

    def describe(self) -> str:
        return (f"image_width={self.image_width}, image_height={self.image_height}, focal_length={self.focal_length} "
                + ("(outputs root-relative)" if self.focal_length <= 0 else "(principal point at the image centre)"))


class CameraSource:
    """camera_infos by frame_id and stamp, else the fallback; `current()` says once when camera_info is overdue."""

    def __init__(self, fallback: FallbackCamera, history_s: float = CAMERA_HISTORY_S) -> None:
        self.fallback = fallback
        self.info: Camera | None = None  # the newest valid camera_info (health: is there any?)
        # history_s: at least the model's output delay; entries for camera_info at up to 128 Hz over it
        self.history = CameraHistory(history_s, max(CAMERA_HISTORY_MAX, int(128 * history_s)))
        self.frame_id = ""  # header.frame_id of the camera_info taken: the outputs' frame when keypoints have none
        self._first_input_at: float | None = None
        self.overdue = False  # keypoints for CAMERA_INFO_GRACE_S without a valid camera_info

    def update(self, width: int, height: int, k: Sequence[float], frame_id: str = "", stamp_ns: int = 0) -> str | None:
        """A camera_info message's size, K, frame_id and stamp: None when taken, else why it was refused."""
        problem = intrinsics_problem(width, height, k)
        if problem is None:
            self.info = Camera(int(width), int(height), np.asarray(k, np.float64).reshape(3, 3))
            self.frame_id = frame_id
            self.history.add(stamp_ns, frame_id, self.info)
        return problem

    def match(self, stamp_ns: int, frame_id: str) -> CameraMatch:
        """The camera of the keypoint frame (stamp_ns, frame_id); with a `problem` it must not be placed."""
        found = self.history.match(stamp_ns, frame_id)
        return found if found.camera is not None else CameraMatch(self.fallback.camera())

    def input_seen(self, now: float) -> None:
        """Keypoints arrived at `now` (the grace period starts with the first)."""
        if self._first_input_at is None:
            self._first_input_at = now

    def current(self, now: float) -> tuple[Camera, bool]:
        """(the camera for a frame received at `now`, whether camera_info just became overdue: warn once)."""
        self.input_seen(now)
        if self.info is not None:
            return self.info, False
        became_overdue = not self.overdue and now - self._first_input_at >= CAMERA_INFO_GRACE_S
        self.overdue = self.overdue or became_overdue
        return self.fallback.camera(), became_overdue

    @property
    def missing(self) -> bool:
        """camera_info is overdue and still absent (a diagnostics warning)."""
        return self.overdue and self.info is None
