"""mpm_pose2d's /diagnostics level (ROS-free): the lifter's load rules (load_health) plus the camera node's own.

Counters alone said OK while the camera node refused every image (issue 25: rgba8 at 30 Hz, or all-zero stamps,
reported "OK, 0.0 Hz, 1 people"). Here the status is judged like the lifter's (docs/CAMERA.md, "Diagnostics"):

| condition | level |
| --- | --- |
| no image since activation, or none in the last `window_s` | WARN (says which) |
| images arrive (>= `min_frames`) and none is published: all refused | ERROR, naming the reasons |
| images lost in the node (refused, detector busy) > `lost_share` of those received | WARN |
| image -> keypoints latency p50 over one camera period (the detector cannot keep up) | WARN |
| images lost before the node (stamp gaps against the camera's period) > `lost_share` | WARN |
| a camera_info of another size than the images (the overlay is drawn 2D-only) within `window_s` | WARN |
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from mpm_ros.diagnostics import Report, Snapshot
from mpm_ros.load_health import OK, WARN, LedgerCounts, LoadThresholds, load_conditions

GAP_HISTORY = 90  # stamp gaps the camera period is estimated from (3 s at 30 Hz)
GAP_QUANTILE = 25  # percentile of the gaps taken as the period: right while fewer than 3 in 4 images are lost
MAX_CAMERA_HZ = 240.0  # shorter gaps (a burst of close stamps) are no period sample: a burst cannot shrink it
MIN_LOSS_GAP_PERIODS = 1.5  # a gap this many periods long or longer means images were lost on the way
MAX_LOSS_GAP_S = 1.0  # a longer gap is a paused publisher (or a bag loop), not a loss


class StampGaps:
    """Images lost before the node saw them, inferred from their stamps: a gap of n camera periods between two
    images that arrived means n - 1 images did not. The period is a low percentile of the recent gaps."""

    def __init__(self, window_s: float = LoadThresholds.window_s) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._gaps: deque[int] = deque(maxlen=GAP_HISTORY)  # ns between consecutive increasing stamps
        self._missed: deque[tuple[float, int]] = deque()  # (monotonic s, images inferred lost before one that came)
        self._last_ns: int | None = None
        self.total_missed = 0

    def period_ns(self) -> int | None:
        """The camera period estimate (None: fewer than 3 gaps seen)."""
        if len(self._gaps) < 3:
            return None
        return int(np.percentile(np.asarray(self._gaps), GAP_QUANTILE))

    def add(self, stamp_ns: int, now: float | None = None) -> None:
        """An image with this stamp reached the node at `now` (monotonic s)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last_ns
            if last is not None and stamp_ns <= last:
                if last - stamp_ns > MAX_LOSS_GAP_S * 1e9:  # jumped back (bag loop): start over
                    self._gaps.clear()
                    self._last_ns = stamp_ns
                return  # a repeat or a small reorder: refused by the node, no gap information
            self._last_ns = stamp_ns
            if last is None:
                return
            gap, period = stamp_ns - last, self.period_ns()
            if gap > MAX_LOSS_GAP_S * 1e9 or gap < 1e9 / MAX_CAMERA_HZ:
                return  # a pause (not a loss) or a burst of close stamps: neither is a period sample
            if period is not None and gap >= MIN_LOSS_GAP_PERIODS * period:
                missed = int(round(gap / period)) - 1
                self._missed.append((now, missed))
                self.total_missed += missed
            self._gaps.append(gap)

    def missed(self, now: float | None = None) -> int:
        """Images inferred lost in the last window_s."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._missed and now - self._missed[0][0] > self.window_s:
                self._missed.popleft()
            return sum(n for _, n in self._missed)

    def rate_hz(self) -> float | None:
        with self._lock:
            period = self.period_ns()
        return None if period is None else 1e9 / period


@dataclass
class CameraHealth:
    """The camera node's own conditions, set by the node as they are seen (monotonic seconds)."""

    last_image_at: float | None = None  # None: no image since activation
    last_size_mismatch: str | None = None  # the latest "camera_info WxH, image wxh"
    last_size_mismatch_at: float = -float("inf")


def pose2d_report(snapshot: Snapshot, counts: LedgerCounts, gaps: StampGaps, health: CameraHealth, topic: str,
                  people: str, now: float | None = None, thresholds: LoadThresholds = LoadThresholds()) -> Report:
    """The mpm_pose2d status: ERROR when images arrive and every one is refused, WARN for no image, losses
    (in the node or before it) or a camera_info of another size; OK with the output rate and people otherwise."""
    now = time.monotonic() if now is None else now
    window = f"{thresholds.window_s:g} s"
    missed, rate = gaps.missed(now), gaps.rate_hz()
    snapshot.extra.update({"images_lost_before_node": str(gaps.total_missed),
                           "camera_rate_hz": "unknown" if rate is None else f"{rate:.2f}"})
    values = snapshot.as_key_values()
    if health.last_image_at is None:
        return Report(WARN, f"no image has arrived on '{topic}' since activation", values)
    if now - health.last_image_at > thresholds.window_s:
        return Report(WARN, f"no image on '{topic}' for {now - health.last_image_at:.0f} s", values)
    level, problems = load_conditions(counts, snapshot.end_to_end_p50_ms, None if rate is None else 1 / rate,
                                      thresholds)
    if rate is not None and counts.received >= thresholds.min_frames \
            and missed > thresholds.lost_share * (counts.received + missed):  # (no rate right after a bag loop)
        problems.append(f"about {missed} of {counts.received + missed} images lost before reaching the node in "
                        f"{window} (stamp gaps against the camera's {rate:.1f} Hz; use the shared-memory profile "
                        "or image_reliable, docs/CAMERA.md)")
    if now - health.last_size_mismatch_at < thresholds.window_s:
        problems.append(f"camera_info does not fit the images ({health.last_size_mismatch}): overlay drawn 2D-only")
    summary = "; ".join(problems) or f"{snapshot.output_rate_hz:.1f} Hz, {people} people"
    return Report(max(level, WARN if problems else OK), summary, values)
