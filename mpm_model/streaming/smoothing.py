"""Steady joints: a per-track One Euro filter on the lifter's root-relative output (ROS-free, causal).

One Euro (Casiez et al., CHI 2012): a low-pass filter whose cutoff rises with the signal's speed — strong smoothing
when a joint is still (jitter gone), little when it moves fast. Each output frame is filtered as it is produced,
from the previous filtered frame only (no frame is held back), but a low-pass filter lags: on fast motion the
filtered joints trail the truth (docs/TEMPORAL.md measures it). It runs on root-relative joints, so the root fit's
depth noise (metres far away) neither sets its speed estimate nor gets smoothed here: the root has its own state
(temporal.RootFilter). A track's filter restarts when the track is new, its stamps go back, or it was unseen for
longer than `reset_after_s` (the stream's track_timeout, live through set_options).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.track_states import TrackStates
from mpm_model.tunable import check, tunable


@dataclass(frozen=True)
class SmoothingOptions:
    """The filter's tunables (all may change while streaming; off by default). The defaults are the best of
    tools/eval_smoothing.py's settings on the test slice (jitter 8.1 → 5.5 mm/frame², +1.5 mm MPJPE)."""

    smoothing: bool = tunable(False, "One Euro filter on the root-relative output joints, per track (causal; it "
                              "lags on fast motion)")
    smoothing_min_cutoff: float = tunable(2.0, "One Euro cutoff frequency (Hz) of a still joint: lower = "
                                          "steadier, more lag", 0.01, 100.0)
    smoothing_beta: float = tunable(20.0, "One Euro speed coefficient (1/m): higher = less lag on fast motion",
                                    0.0, 1000.0)
    smoothing_d_cutoff: float = tunable(1.0, "One Euro cutoff frequency (Hz) of the speed estimate", 0.01, 100.0)

    def __post_init__(self) -> None:
        check(self)


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz) * dt))


@dataclass
class _TrackState:
    stamp_ns: int
    joints: np.ndarray  # (J, 3) last filtered
    speed: np.ndarray  # (J, 3) last filtered derivative, m/s


class JointSmoother:
    """One Euro filter state per track id."""

    def __init__(self, options: SmoothingOptions = SmoothingOptions(), reset_after_s: float = 1.0) -> None:
        self._tracks: TrackStates[_TrackState] = TrackStates(reset_after_s)
        self.set_options(options, reset_after_s)

    def set_options(self, options: SmoothingOptions, reset_after_s: float) -> None:
        """Live: the next frame uses them; `reset_after_s` is the stream's track_timeout."""
        self.options = options
        self._tracks.set_timeout(reset_after_s)

    def clear(self) -> None:
        self._tracks.clear()

    def filter(self, stamp_ns: int, track_ids: tuple[int, ...], joints: np.ndarray) -> np.ndarray:
        """(B, J, 3) root-relative joints of one source frame → filtered (B, J, 3) (a copy; the input when off)."""
        if not self.options.smoothing:
            self._tracks.clear()  # switching it on later starts fresh
            return joints
        o = self.options
        out = np.array(joints, np.float64, copy=True)
        for b, track in enumerate(track_ids):
            state = self._tracks.continuing(track, stamp_ns)
            if state is None or not np.isfinite(out[b]).all():
                self._tracks[track] = _TrackState(stamp_ns, out[b].copy(), np.zeros_like(out[b]))
                continue
            dt = (stamp_ns - state.stamp_ns) * 1e-9
            speed = (out[b] - state.joints) / dt  # (J, 3)
            speed = state.speed + _alpha(o.smoothing_d_cutoff, dt) * (speed - state.speed)
            cutoff = o.smoothing_min_cutoff + o.smoothing_beta * np.linalg.norm(speed, axis=-1, keepdims=True)
            out[b] = state.joints + _alpha(cutoff, dt) * (out[b] - state.joints)
            self._tracks[track] = _TrackState(stamp_ns, out[b].copy(), speed)
        self._tracks.expire(stamp_ns)
        return out
