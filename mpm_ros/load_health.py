"""Overload and loss conditions for the lifter's /diagnostics level (ROS-free).

Counters alone said OK while most frames were lost (issue 20: 649 of 900 frames dropped at 50 tracks, half the
input refused as stamp outliers, both at level OK). Here every input frame's fate is recorded with its time, and
the last `window_s` seconds are judged against thresholds (docs/NODE.md, "Diagnostics"):

| condition | level |
| --- | --- |
| frames lost (dropped whole or refused: queue full, stamp outliers, malformed ...) > `lost_share` of those received | WARN |
| end-to-end latency p50 > `latency_periods` input frame periods | WARN |
| frames published < `output_share` of the frames sent to inference | WARN |
| frames arrive (>= `min_frames`) but none is published: all refused, or inference never answers | ERROR |

Each condition is judged only with at least `min_frames` frames in the window, so a start-up or a quiet scene
(no skeletons: nothing to publish, nothing lost) stays OK.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from mpm_model.streaming.reasons import FRAME_LOSSES  # the registry's dropped.* reasons that lose a whole frame

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


@dataclass(frozen=True)
class LoadThresholds:
    window_s: float = 5.0  # judged over this many seconds of monotonic time
    min_frames: int = 15  # fewer frames received (or sent to inference) in the window: too few to judge
    lost_share: float = 0.10  # WARN above this share of received frames lost
    latency_periods: float = 1.0  # WARN when end-to-end p50 exceeds this many input frame periods
    output_share: float = 0.5  # WARN when fewer than this share of the frames sent to inference are published


@dataclass
class LedgerCounts:
    """What happened to the frames of the last window: received, lost (per reason), sent to inference (`ready`),
    published."""

    received: int = 0
    lost: Counter = field(default_factory=Counter)
    ready: int = 0
    published: int = 0


class FrameLedger:
    """Time-stamped frame fates over the last `window_s` seconds; thread-safe (callback and worker record)."""

    def __init__(self, window_s: float = LoadThresholds.window_s) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._events: deque[tuple[float, str]] = deque()  # (monotonic s, "received" | "ready" | "published" | reason)

    def record(self, event: str, now: float | None = None) -> None:
        """event: "received", "ready" (sent to inference), "published", or a dropped.* reason."""
        with self._lock:
            self._events.append((time.monotonic() if now is None else now, event))

    def counts(self, now: float | None = None) -> LedgerCounts:
        now = time.monotonic() if now is None else now
        counts = LedgerCounts()
        with self._lock:
            while self._events and now - self._events[0][0] > self.window_s:
                self._events.popleft()
            events = [event for _, event in self._events]
        for event in events:
            if event == "received":
                counts.received += 1
            elif event == "ready":
                counts.ready += 1
            elif event == "published":
                counts.published += 1
            else:  # a frame-loss reason (PipelineStats records only those)
                counts.lost[event] += 1
        return counts


def load_conditions(counts: LedgerCounts, end_to_end_p50_ms: float, period_s: float | None,
                    thresholds: LoadThresholds = LoadThresholds()) -> tuple[int, list[str]]:
    """(level, problems) for one window: ERROR when frames arrive and none gets through, WARN for each overload or
    loss condition above its threshold, OK otherwise. `period_s`: the input frame period (None: unknown)."""
    problems: list[str] = []
    window = f"{thresholds.window_s:g} s"
    lost = sum(counts.lost.values())
    if counts.received >= thresholds.min_frames and counts.published == 0 and (
            lost >= counts.received or counts.ready >= thresholds.min_frames):
        why = "all refused" if lost >= counts.received else f"{counts.ready} sent to inference"
        return ERROR, [f"nothing published in {window}: {counts.received} frames in, {why} ({_reasons(counts.lost)})"]
    if counts.received >= thresholds.min_frames and lost > thresholds.lost_share * counts.received:
        problems.append(f"{lost} of {counts.received} frames lost in {window} ({_reasons(counts.lost)}; "
                        f"more than {thresholds.lost_share:.0%})")
    if period_s and counts.published >= thresholds.min_frames \
            and end_to_end_p50_ms > thresholds.latency_periods * period_s * 1e3:
        problems.append(f"end-to-end latency p50 {end_to_end_p50_ms:.0f} ms is over "
                        f"{thresholds.latency_periods:g} input frame period ({period_s * 1e3:.0f} ms)")
    if counts.ready >= thresholds.min_frames and counts.published < thresholds.output_share * counts.ready:
        problems.append(f"{counts.published} of {counts.ready} frames sent to inference published in {window} "
                        f"(less than {thresholds.output_share:.0%})")
    return (WARN if problems else OK), problems


def _reasons(lost: Counter) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in lost.most_common()) or "none lost"
