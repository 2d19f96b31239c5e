"""Which aligned depth image places a keypoints frame (ROS-free): the rules camera_info follows, for depth.

Used by the node (mpm_ros.lift_node) and the offline evaluation (mpm_ros.bags.placement_eval) alike:
- **Checked from the header, before any decode**: a known encoding, a buffer that fits, and the size of the
  camera it is aligned to. A 4000x3000 image for a 1000x1000 camera_info is never decoded nor kept
  (`depth.size_mismatch`); decoding it on the input thread stalled the keypoints and kept 200-375 MB.
- **Matched by frame_id and stamp**: an aligned depth image carries the colour camera's optical frame (RealSense
  `aligned_depth_to_color`, Azure Kinect `depth_to_rgb`), so a frame only takes an image of **its own** frame_id
  within `depth_tolerance` of its stamp. An image of another frame_id is never used (`depth.frame_mismatch`): a
  depth camera 1.2x farther away placed people 2.8 m too far.
- **A bounded wait that gives up when it cannot help**: the worker waits up to `depth_wait` for an image that has
  not come yet, but only while the depth stream keeps up: when the images run further behind the keypoints than
  `depth_wait + depth_tolerance` (the median over the last images of "newest keypoints stamp - image stamp" at
  the image's arrival), no wait can bring the image, so none is made (`depth.behind`); waiting every frame capped
  the output at 5 Hz.
- **Late count**: an image that arrives for a frame already placed without it (`depth.arrived_late`).
Thread-safe: `add()` and `keypoints_seen()` on the input thread, `find()` on the worker.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.camera import Camera
from mpm_model.streaming.depth import ENCODINGS, DepthImage
from mpm_model.tunable import check, tunable

LIVE_S = 1.0  # the worker waits only while the newest image of the frame's frame_id is at most this much older
LAG_IMAGES = 8  # the depth stream's lag: median over this many recent images
MAX_MISSED = 32  # stamps of frames placed without depth, kept to count late images

FRAME_MISMATCH = "depth.frame_mismatch"  # images near the stamp, none of the frame's frame_id
BEHIND = "depth.behind"  # the depth stream runs behind by more than depth_wait: not waited for
NO_IMAGE = "depth.no_image"  # no image of the frame's frame_id within depth_tolerance
SIZE_MISMATCH = "depth.size_mismatch"  # image size differs from its camera's
INVALID_IMAGE = "depth.invalid_image"  # unknown encoding, or a buffer that does not fit width x height x step
ARRIVED_LATE = "depth.arrived_late"  # an image of a frame already placed without it


@dataclass(frozen=True)
class DepthMatching:
    """How a keypoints frame finds its depth image (both may change while streaming)."""

    depth_wait: float = tunable(0.0, "Longest the inference worker waits (s) for a frame's depth image that has "
                                "not arrived yet, only while depth keeps up (runs at most depth_wait + "
                                "depth_tolerance behind the keypoints; else counted depth.behind); 0 = never. For "
                                "images that come just after their keypoints; the input thread never waits",
                                0.0, 0.2)
    depth_tolerance: float = tunable(0.02, "A keypoints frame takes the depth image of its own frame_id whose "
                                     "stamp is within this many seconds of its own (else it is placed from 2D, "
                                     "counted depth.no_image)", 0.0, 1.0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class DepthLookup:
    image: DepthImage | None
    reason: str | None = None  # why there is none: NO_IMAGE, FRAME_MISMATCH or BEHIND


def _frame(frame_id: str) -> str:
    return frame_id.lstrip("/")  # tf2 ignores a leading slash


def header_problem(encoding: str, width: int, height: int, step: int, data_bytes: int,
                   camera: Camera | None) -> tuple[str, str] | None:
    """(reason, sentence) when an image's header says it cannot be used, from the header alone (no decode);
    `camera`: the camera it must be aligned to (None: no size to check yet)."""
    if encoding not in ENCODINGS:
        return INVALID_IMAGE, f"encoding {encoding[:32]!r} is not one of {sorted(ENCODINGS)}"
    if camera is not None and (width, height) != (camera.width, camera.height):
        return SIZE_MISMATCH, (f"a {width}x{height} image for a {camera.width}x{camera.height} camera (depth must be "
                               "aligned to the keypoints' image)")
    itemsize = np.dtype(ENCODINGS[encoding][0]).itemsize
    if not (0 < width <= 100_000 and 0 < height <= 100_000) or step < width * itemsize or data_bytes != step * height:
        return INVALID_IMAGE, f"{data_bytes} bytes for {width}x{height} {encoding} with step {step}"
    return None


class DepthHistory:
    """The last `max_images` decoded depth images per frame_id and stamp, matched to keypoint frames."""

    def __init__(self, max_images: int, matching: DepthMatching = DepthMatching()) -> None:
        self.matching = matching
        self._images: deque[tuple[str, DepthImage]] = deque(maxlen=max_images)
        self._missed: deque[tuple[str, int]] = deque(maxlen=MAX_MISSED)  # (frame_id, stamp) placed without depth
        self._lags: deque[int] = deque(maxlen=LAG_IMAGES)
        self._newest_keypoints_ns: int | None = None
        self._arrived = threading.Condition()  # guards everything above; notified on each image

    def __len__(self) -> int:
        return len(self._images)

    def set_matching(self, matching: DepthMatching) -> None:
        self.matching = matching

    def keypoints_seen(self, stamp_ns: int) -> None:
        """A keypoints frame of this stamp arrived (the reference the depth stream's lag is measured against)."""
        with self._arrived:
            self._newest_keypoints_ns = max(stamp_ns, self._newest_keypoints_ns or stamp_ns)

    def lag_s(self) -> float | None:
        """How far the depth images run behind the keypoints (median over the last images), None before one."""
        with self._arrived:
            return float(np.median(self._lags)) / 1e9 if self._lags else None

    def behind(self) -> bool:
        """Whether depth runs too far behind for depth_wait to bring a frame's image."""
        lag = self.lag_s()
        return lag is not None and lag > self.matching.depth_wait + self.matching.depth_tolerance

    def behind_problem(self) -> str | None:
        """The /diagnostics and log sentence while depth runs too far behind (None: it keeps up)."""
        if not self.behind():
            return None
        return (f"depth images run {self.lag_s():.3f} s behind the keypoints, more than depth_wait "
                f"{self.matching.depth_wait:g} + depth_tolerance {self.matching.depth_tolerance:g} s: frames are "
                "placed without depth and not waited for (depth.behind)")

    def add(self, frame_id: str, image: DepthImage) -> int:
        """Keep a decoded image; returns how many frames already placed without it it would have matched
        (ARRIVED_LATE)."""
        frame, tolerance_ns = _frame(frame_id), int(self.matching.depth_tolerance * 1e9)
        with self._arrived:  # a worker waiting for this image (depth_wait) wakes
            self._images.append((frame, image))
            if self._newest_keypoints_ns is not None:
                self._lags.append(self._newest_keypoints_ns - image.stamp_ns)
            late = [m for m in self._missed if m[0] == frame and abs(m[1] - image.stamp_ns) <= tolerance_ns]
            for missed in late:
                self._missed.remove(missed)
            self._arrived.notify_all()
        return len(late)

    def find(self, stamp_ns: int, frame_id: str) -> DepthLookup:
        """The image of `frame_id` nearest `stamp_ns` within depth_tolerance, waiting (bounded, see the module
        docstring) for one not yet arrived; else why there is none (the frame is placed from 2D)."""
        frame, matching = _frame(frame_id), self.matching
        tolerance_ns = int(matching.depth_tolerance * 1e9)
        deadline = time.monotonic() + matching.depth_wait
        behind = self.behind()
        with self._arrived:
            while True:
                near = [(f, image) for f, image in self._images if abs(image.stamp_ns - stamp_ns) <= tolerance_ns]
                own = [image for f, image in near if f == frame]
                if own:
                    return DepthLookup(min(own, key=lambda image: abs(image.stamp_ns - stamp_ns)))
                if near:
                    return DepthLookup(None, FRAME_MISMATCH)
                newest = max((image.stamp_ns for f, image in self._images if f == frame), default=None)
                remaining = deadline - time.monotonic()
                if (remaining <= 0 or behind or newest is None or newest > stamp_ns
                        or newest < stamp_ns - int(LIVE_S * 1e9)):
                    break
                self._arrived.wait(remaining)
            self._missed.append((frame, stamp_ns))
            if self._images and newest is None:
                return DepthLookup(None, FRAME_MISMATCH)  # depth streams, but never in this frame
        return DepthLookup(None, BEHIND if behind and matching.depth_wait > 0 else NO_IMAGE)
