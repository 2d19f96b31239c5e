"""Camera model of the node and the sanity rules for intrinsics (ROS-free).

Absurd intrinsics (fx = 1e-30, a principal point far outside the image) would still "place" a skeleton,
at a depth that means nothing; they are refused here, so such skeletons stay root-relative and say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Focal length in pixels relative to the larger image side: 0.05 is a ~170° fisheye, 50 a ~1° telephoto.
MIN_FOCAL_RATIO = 0.05
MAX_FOCAL_RATIO = 50.0
MAX_IMAGE_SIDE = 100_000


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    intrinsics: np.ndarray | None  # (3, 3) K, None = unknown (outputs stay root-relative)


def intrinsics_problem(width: int, height: int, k: Sequence[float] | np.ndarray) -> str | None:
    """Why (width, height, K) cannot be used for placement, or None when it is sane."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        return f"image size {width}x{height} is outside 1..{MAX_IMAGE_SIDE} px"
    k = np.asarray(k, np.float64)
    if k.size != 9 or not np.isfinite(k).all():
        return "K must be 9 finite numbers"
    k = k.reshape(3, 3)
    side = max(width, height)
    for name, focal in (("fx", k[0, 0]), ("fy", k[1, 1])):
        if not MIN_FOCAL_RATIO * side <= focal <= MAX_FOCAL_RATIO * side:
            return (f"{name}={focal:.6g} px is not within [{MIN_FOCAL_RATIO}, {MAX_FOCAL_RATIO}] x the image side "
                    f"({side} px)")
    if not (0 <= k[0, 2] <= width and 0 <= k[1, 2] <= height):
        return f"principal point ({k[0, 2]:.6g}, {k[1, 2]:.6g}) is outside the {width}x{height} image"
    if not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0.0:
        return f"K's last row must be (0, 0, 1) and K[1][0] must be 0, got {k[2].tolist()} and {k[1, 0]}"
    return None


def fallback_intrinsics(width: int, height: int, focal_length: float) -> np.ndarray | None:
    """K from the focal_length parameter (principal point at the image centre); None when focal_length is 0."""
    if focal_length <= 0:
        return None
    return np.array([[focal_length, 0, width / 2], [0, focal_length, height / 2], [0, 0, 1]], np.float64)


CAMERA_HISTORY_S = 2.0  # camera_info kept per frame_id, in stamp time behind its newest
CAMERA_HISTORY_MAX = 256  # entries per frame_id (a 100 Hz camera_info fills 2 s with 200)
MAX_CAMERA_FRAMES = 8  # distinct frame_ids remembered (a flood of made-up ids must not grow memory)
FRAME_MISMATCH = "camera_frame_mismatch"  # no camera_info of the keypoints' frame_id
INTRINSICS_CHANGED = "camera_changed"  # intrinsics changed around the keypoints' stamp: which applies is unknown


def _frame(frame_id: str) -> str:
    return frame_id.lstrip("/")  # tf2 ignores a leading slash


def _same(a: Camera, b: Camera) -> bool:
    return (a.width, a.height) == (b.width, b.height) and a.intrinsics is not None and b.intrinsics is not None \
        and np.array_equal(a.intrinsics, b.intrinsics)


@dataclass(frozen=True)
class CameraMatch:
    """The camera of one keypoint frame. `problem` (FRAME_MISMATCH / INTRINSICS_CHANGED) means the frame must not
    be placed: `camera` then keeps only an image size for normalising the keypoints (intrinsics None)."""

    camera: Camera | None  # None: no camera_info at all yet (the caller's fallback applies)
    problem: str | None = None


class CameraHistory:
    """Recent valid camera_infos per frame_id, matched to keypoint frames by frame_id and stamp.

    Placement used to trust whatever camera_info arrived last: another camera's (twice the focal length → root at
    25 m instead of 14 m) or a newer resolution for keypoints that arrived late. Here a keypoint frame gets the
    camera_info of its own frame_id with the same stamp; without an exact one, the nearest older one, unless the
    nearest newer one differs (the intrinsics changed around that stamp: which one applies is unknown).
    """

    def __init__(self, keep_s: float = CAMERA_HISTORY_S, max_entries: int = CAMERA_HISTORY_MAX) -> None:
        self.keep_ns = int(keep_s * 1e9)
        self.max_entries = max_entries
        self._entries: dict[str, list[tuple[int, Camera]]] = {}  # frame_id -> [(stamp_ns, camera)] by stamp

    def __bool__(self) -> bool:
        return bool(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def add(self, stamp_ns: int, frame_id: str, camera: Camera) -> None:
        """Remember a valid camera_info (checked with intrinsics_problem first); out-of-order stamps are sorted."""
        frame = _frame(frame_id)
        if frame not in self._entries and len(self._entries) >= MAX_CAMERA_FRAMES:
            oldest = min(self._entries, key=lambda f: self._entries[f][-1][0])  # least recently stamped frame
            del self._entries[oldest]
        entries = self._entries.setdefault(frame, [])
        stamps = [s for s, _ in entries]
        index = int(np.searchsorted(stamps, stamp_ns, side="left"))
        if index < len(entries) and entries[index][0] == stamp_ns:
            entries[index] = (stamp_ns, camera)  # the same stamp again: the newer message wins
        else:
            entries.insert(index, (stamp_ns, camera))
        newest = entries[-1][0]
        keep = [e for e in entries if newest - e[0] <= self.keep_ns][-self.max_entries:]
        entries[:] = keep

    def newest(self) -> Camera | None:
        """The most recently stamped camera of any frame_id (for an image size when nothing matches)."""
        if not self._entries:
            return None
        return max((entries[-1] for entries in self._entries.values()), key=lambda e: e[0])[1]

    def match(self, stamp_ns: int, frame_id: str) -> CameraMatch:
        """The camera for a keypoint frame (see the class docstring)."""
        if not self._entries:
            return CameraMatch(None)
        entries = self._entries.get(_frame(frame_id))
        if not entries:
            newest = self.newest()
            return CameraMatch(Camera(newest.width, newest.height, None), FRAME_MISMATCH)
        stamps = [s for s, _ in entries]
        index = int(np.searchsorted(stamps, stamp_ns, side="left"))
        if index < len(entries) and entries[index][0] == stamp_ns:
            return CameraMatch(entries[index][1])
        before = entries[index - 1][1] if index > 0 else None
        after = entries[index][1] if index < len(entries) else None
        if before is None or after is None or _same(before, after):
            return CameraMatch(before or after)
        return CameraMatch(Camera(before.width, before.height, None), INTRINSICS_CHANGED)
