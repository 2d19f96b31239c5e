"""Thread-safe pipeline statistics for the node's 1 Hz /diagnostics report (ROS-free).

The subscription callback and the inference worker both record here; `snapshot()` is read by the timer.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

RATE_WINDOW_S = 5.0
LATENCY_SAMPLES = 500


class RateMeter:
    """Events per second over the last RATE_WINDOW_S seconds of monotonic time."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float) -> float:
        while self._times and now - self._times[0] > RATE_WINDOW_S:
            self._times.popleft()
        if not self._times:
            return 0.0
        return len(self._times) / RATE_WINDOW_S


def percentile_ms(samples_s: deque[float], q: float) -> float:
    """q-th percentile of latency samples in seconds, reported in ms (NaN when empty)."""
    return float(np.percentile(np.asarray(samples_s), q) * 1e3) if samples_s else float("nan")


@dataclass
class Snapshot:
    input_rate_hz: float
    output_rate_hz: float
    inference_p50_ms: float
    inference_p99_ms: float
    end_to_end_p50_ms: float
    end_to_end_p99_ms: float
    stamp_age_p50_ms: float
    stamp_age_p99_ms: float
    active_tracks: int
    dropped: dict[str, int]
    resets: int
    extra: dict[str, str] = field(default_factory=dict)

    def as_key_values(self) -> list[tuple[str, str]]:
        """Ordered (key, value) pairs for diagnostic_msgs/KeyValue."""
        pairs = [
            ("input_rate_hz", f"{self.input_rate_hz:.2f}"),
            ("output_rate_hz", f"{self.output_rate_hz:.2f}"),
            ("inference_p50_ms", f"{self.inference_p50_ms:.2f}"),
            ("inference_p99_ms", f"{self.inference_p99_ms:.2f}"),
            ("end_to_end_p50_ms", f"{self.end_to_end_p50_ms:.2f}"),
            ("end_to_end_p99_ms", f"{self.end_to_end_p99_ms:.2f}"),
            ("stamp_age_p50_ms", f"{self.stamp_age_p50_ms:.2f}"),
            ("stamp_age_p99_ms", f"{self.stamp_age_p99_ms:.2f}"),
            ("active_tracks", str(self.active_tracks)),
            ("buffer_resets", str(self.resets)),
            ("dropped_total", str(sum(self.dropped.values()))),
        ]
        pairs += [(f"dropped.{reason}", str(count)) for reason, count in sorted(self.dropped.items())]
        pairs += list(self.extra.items())
        return pairs


class PipelineStats:
    """Counters and latency samples shared by the callback thread and the worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._input = RateMeter()
        self._output = RateMeter()
        self._inference: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._end_to_end: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._stamp_age: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._dropped: Counter[str] = Counter()
        self._resets = 0
        self.active_tracks = 0

    def input_received(self, now: float | None = None) -> None:
        with self._lock:
            self._input.tick(time.monotonic() if now is None else now)

    def output_published(self, end_to_end_s: float, stamp_age_s: float, now: float | None = None) -> None:
        """end_to_end_s: input callback -> publish; stamp_age_s: publish (node clock) - source header stamp,
        i.e. the data's age including transport, queueing and any lookahead delay."""
        with self._lock:
            self._output.tick(time.monotonic() if now is None else now)
            self._end_to_end.append(end_to_end_s)
            self._stamp_age.append(stamp_age_s)

    def inference_done(self, seconds: float) -> None:
        with self._lock:
            self._inference.append(seconds)

    def drop(self, reason: str, count: int = 1) -> None:
        if count > 0:
            with self._lock:
                self._dropped[reason] += count

    def reset_counted(self) -> None:
        with self._lock:
            self._resets += 1

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    def snapshot(self, extra: dict[str, str] | None = None, now: float | None = None) -> Snapshot:
        now = time.monotonic() if now is None else now
        with self._lock:
            return Snapshot(
                input_rate_hz=self._input.rate(now),
                output_rate_hz=self._output.rate(now),
                inference_p50_ms=percentile_ms(self._inference, 50),
                inference_p99_ms=percentile_ms(self._inference, 99),
                end_to_end_p50_ms=percentile_ms(self._end_to_end, 50),
                end_to_end_p99_ms=percentile_ms(self._end_to_end, 99),
                stamp_age_p50_ms=percentile_ms(self._stamp_age, 50),
                stamp_age_p99_ms=percentile_ms(self._stamp_age, 99),
                active_tracks=self.active_tracks,
                dropped=dict(self._dropped),
                resets=self._resets,
                extra=dict(extra or {}),
            )
