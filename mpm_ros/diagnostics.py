"""Thread-safe pipeline statistics and the assembly of each node's 1 Hz /diagnostics report (ROS-free).

The subscription callback and the inference worker both record here; `snapshot()` is read by the timer, and
`lifter_report()` turns a snapshot plus the lifter's state (`LifterHealth`) into the level, summary and values.
Two counter families, so a degraded-but-kept input is never confused with a lost one: `dropped.<reason>`
(an input frame or skeleton that produced no output; summed in `dropped_total`) and `masked.<reason>`
(kept, with joints/frames masked or placement given up; summed in `masked_total`).
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Collection

import numpy as np

from mpm_ros.load_health import FRAME_LOSSES, OK, WARN, FrameLedger, LedgerCounts, load_conditions

RATE_WINDOW_S = 5.0
RECENT_S = 5.0  # a warning condition seen this recently keeps /diagnostics at WARN
LATENCY_SAMPLES = 500
FPS_TOLERANCE = 0.2  # relative difference between the measured stream rate and the model's training rate


def frame_rate_problem(measured_hz: float | None, model_fps: float | None) -> str | None:
    """Why a stream at measured_hz does not suit a model trained at model_fps (None: fine or unknown).

    The model's temporal window spans window/fps seconds of motion; at another rate it sees motion sped up or
    slowed down, which degrades the lift silently.
    """
    if not measured_hz or not model_fps or model_fps <= 0:
        return None
    if abs(measured_hz / model_fps - 1.0) <= FPS_TOLERANCE:
        return None
    return (f"input stamps arrive at {measured_hz:.1f} Hz but the model was trained at {model_fps:g} Hz "
            f"(more than {FPS_TOLERANCE:.0%} apart): 3D output degrades; resample the input or use a model trained "
            f"at this rate")


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
    masked: dict[str, int]
    resets: dict[str, int]
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
            ("buffer_resets", str(sum(self.resets.values()))),
            ("dropped_total", str(sum(self.dropped.values()))),
            ("masked_total", str(sum(self.masked.values()))),
        ]
        pairs += [(f"buffer_resets.{reason}", str(count)) for reason, count in sorted(self.resets.items())]
        pairs += [(f"dropped.{reason}", str(count)) for reason, count in sorted(self.dropped.items())]
        pairs += [(f"masked.{reason}", str(count)) for reason, count in sorted(self.masked.items())]
        pairs += list(self.extra.items())
        return pairs


class PipelineStats:
    """Counters and latency samples shared by the callback thread and the worker thread."""

    def __init__(self, dropped_reasons: Collection[str] | None = None, masked_reasons: Collection[str] | None = None,
                 frame_losses: frozenset[str] = FRAME_LOSSES) -> None:
        """`dropped_reasons` / `masked_reasons`: the registered names (mpm_model.streaming.reasons); another name
        is a bug that would escape the health rules, so it raises (None: any name, for the front-end nodes).
        `frame_losses`: the dropped.* reasons that lose a whole input frame (the node's own set)."""
        self._registered = {"dropped": dropped_reasons, "masked": masked_reasons}
        self._frame_losses = frame_losses
        self._lock = threading.Lock()
        self._input = RateMeter()
        self._output = RateMeter()
        self._inference: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._end_to_end: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._stamp_age: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._dropped: Counter[str] = Counter()
        self._masked: Counter[str] = Counter()
        self._resets: Counter[str] = Counter()
        self._frames = FrameLedger()  # each input frame's fate over the last seconds (load_health)
        self.active_tracks = 0

    def input_received(self, now: float | None = None) -> None:
        with self._lock:
            now = time.monotonic() if now is None else now
            self._input.tick(now)
            self._frames.record("received", now)

    def output_published(self, end_to_end_s: float, stamp_age_s: float, now: float | None = None) -> None:
        """end_to_end_s: input callback -> publish; stamp_age_s: publish (node clock) - source header stamp,
        i.e. the data's age including transport, queueing and any lookahead delay."""
        with self._lock:
            now = time.monotonic() if now is None else now
            self._output.tick(now)
            self._frames.record("published", now)
            self._end_to_end.append(end_to_end_s)
            self._stamp_age.append(stamp_age_s)

    def inference_done(self, seconds: float) -> None:
        with self._lock:
            self._inference.append(seconds)

    def drop(self, reason: str, count: int = 1) -> None:
        """An input (frame or skeleton) that produced no output."""
        self._check("dropped", reason)
        if count > 0:
            with self._lock:
                self._dropped[reason] += count
            if reason in self._frame_losses:
                for _ in range(count):
                    self._frames.record(reason)

    def frame_ready(self, now: float | None = None) -> None:
        """An input frame's windows were sent to inference."""
        self._frames.record("ready", now)

    def frame_counts(self, now: float | None = None) -> LedgerCounts:
        return self._frames.counts(now)

    def mask(self, reason: str, count: int = 1) -> None:
        """An input kept with joints/frames masked (or published root-relative)."""
        self._check("masked", reason)
        if count > 0:
            with self._lock:
                self._masked[reason] += count

    def _check(self, family: str, reason: str) -> None:
        registered = self._registered[family]
        if registered is not None and reason not in registered:
            raise ValueError(f"{family}.{reason} is not registered in mpm_model.streaming.reasons")

    def reset_counted(self, reason: str) -> None:
        with self._lock:
            self._resets[reason] += 1

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    def masked(self) -> dict[str, int]:
        with self._lock:
            return dict(self._masked)

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
                masked=dict(self._masked),
                resets=dict(self._resets),
                extra=dict(extra or {}),
            )


@dataclass(frozen=True)
class Report:
    """One DiagnosticStatus, ROS-free: level (OK / WARN / ERROR), one-line summary, key/values."""

    level: int
    summary: str
    values: list[tuple[str, str]]


def model_mode(config: Any) -> str:
    """How the model (a ModelConfig) answers in time, for logs and diagnostics."""
    if not config.causal:
        return f"centred (answers for frame t-{config.window // 2})"
    return f"causal, lookahead {config.lookahead}" + (f" (answers for frame t-{config.lookahead})"
                                                       if config.lookahead else " (answers for the newest frame)")


@dataclass
class LifterHealth:
    """The lifter's conditions that raise its /diagnostics level, set by the node as they are seen."""

    untrained: bool = False
    last_outside_at: float = -float("inf")  # most joints of a skeleton fell outside the image (monotonic s)
    rate_problem: str | None = None  # frame_rate_problem() of the latest accepted frame
    camera_info_missing: bool = False
    depth_problem: str | None = None  # DepthHistory.behind_problem(): depth runs too far behind to be waited for

    def problems(self, now: float, untrained_warning: str) -> list[str]:
        problems = [untrained_warning] if self.untrained else []
        if self.camera_info_missing:
            problems.append("no camera_info received")
        if now - self.last_outside_at < RECENT_S:
            problems.append("most joints of some skeletons fall outside the image")
        if self.rate_problem:
            problems.append(self.rate_problem)
        if self.depth_problem:
            problems.append(self.depth_problem)
        return problems


def lifter_report(stats: PipelineStats, lifter: Any, checkpoint: str, camera_info: bool, health: LifterHealth,
                  untrained_warning: str, now: float | None = None) -> Report:
    """The mpm_lifter status: counters and latencies, the model and backend (from the StreamingLifter `lifter`),
    WARN while any health problem holds."""
    now = time.monotonic() if now is None else now
    backend, cfg = lifter.backend, lifter.config
    measured = lifter.measured_rate_hz()
    snapshot = stats.snapshot(extra={
        "backend": backend.name, "device": str(backend.device), "backend_selection": backend.selection_reason,
        "checkpoint": checkpoint or "(untrained random init)", "window": str(cfg.window),
        "mode": model_mode(cfg), "output_delay_frames": str(lifter.delay_frames),
        "camera": "camera_info" if camera_info else "parameter fallback (no camera_info yet)",
        "input_stamp_rate_hz": "unknown" if measured is None else f"{measured:.2f}", "model_fps": f"{cfg.fps:g}",
    }, now=now)
    problems = health.problems(now, untrained_warning)
    if backend.fallback_reason:  # for as long as the node runs on the fallback
        problems.append(f"backend {backend.fallback_reason}")
        snapshot.extra["backend_fallback"] = backend.fallback_reason
    rate = lifter.options.stream.frame_rate
    period_s = 1.0 / measured if measured else (1.0 / rate if rate else None)
    load_level, load_problems = load_conditions(stats.frame_counts(now), snapshot.end_to_end_p50_ms, period_s)
    problems += load_problems
    summary = "; ".join(problems) or f"{snapshot.output_rate_hz:.1f} Hz out, {snapshot.active_tracks} track(s)"
    level = max(load_level, WARN if problems else OK)
    return Report(level, summary, snapshot.as_key_values() + [("load_level", ("OK", "WARN", "ERROR")[load_level])])


def input_report(stats: PipelineStats, extra: dict[str, str], running: str, idle: str) -> Report:
    """The front-end nodes' status (pose2d, relay): OK while input arrives (`running`), else WARN (`idle`)."""
    snapshot = stats.snapshot(extra=extra)
    if snapshot.input_rate_hz > 0:
        return Report(OK, running.format(rate=snapshot.output_rate_hz), snapshot.as_key_values())
    return Report(WARN, idle, snapshot.as_key_values())
