"""The root-relative pose carried ahead along its own velocity, `pose_lead` seconds (ROS-free, numpy; off by default).

Why: the pose filter (the learned refiner, or the One Euro filter) steadies the pose under noisy 2D, and the price
is lag: the default node's output best matches the truth one frame before its stamp (docs/TEMPORAL.md, round 9).
Adding the output's own velocity times the lead takes that lag back at more acceleration error (an extrapolation
amplifies the step-to-step noise): a choice for users who need responsiveness (handing objects) over steadiness.
The velocity comes from stamps, so a lead in seconds means the same at any input rate: over ANCHOR outputs back when
that output is at most MAX_SPAN_S old, else over the previous one when it is, else there is no lead that frame (a
gap). A track's outputs are forgotten by the rule the other temporal stages share (track_states.TrackStates).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.track_states import TrackStates

ANCHOR = 2  # outputs back the velocity spans: half the noise of one step's, for half a frame's more delay
MAX_SPAN_S = 0.15  # the oldest output a velocity is taken from (2 outputs at 15 Hz); past a longer gap, no lead


@dataclass
class _Recent:
    stamp_ns: int  # the newest output's source frame
    outputs: list[tuple[int, np.ndarray]]  # (stamp, (J, 3) pose before the lead): the last ANCHOR, oldest first


class PoseLead:
    """Per track: its last outputs before the lead; `apply` once per source frame."""

    def __init__(self, lead_s: float = 0.0, reset_after_s: float = 1.0) -> None:
        self._tracks: TrackStates[_Recent] = TrackStates(reset_after_s)
        self.set_options(lead_s, reset_after_s)

    def set_options(self, lead_s: float, reset_after_s: float) -> None:
        """Live: the next frame uses them (`lead_s`: pose_lead; `reset_after_s`: the streams' track_timeout)."""
        self.lead_s = lead_s
        self._tracks.set_timeout(reset_after_s)

    def apply(self, stamp_ns: int, track_ids: tuple[int, ...], pose: np.ndarray) -> np.ndarray:
        """(B, J, 3) filtered root-relative poses of one source frame → (B, J, 3) carried lead_s ahead (a copy).
        While the lead is 0 the input itself, and nothing is kept: switched on, a track leads from its second
        output. A track without a recent output, or with a non-finite velocity, is not led that frame."""
        if self.lead_s == 0:
            self._tracks.clear()
            return pose
        out = np.array(pose, np.float64, copy=True)  # (B, J, 3)
        max_span_ns = int(MAX_SPAN_S * 1e9)
        for b, track in enumerate(track_ids):
            recent = self._tracks.continuing(track, stamp_ns)
            before = [] if recent is None else recent.outputs
            anchor = next(((s, y) for s, y in before if stamp_ns - s <= max_span_ns), None)  # the oldest in span
            if anchor is not None:
                velocity = (out[b] - anchor[1]) / ((stamp_ns - anchor[0]) * 1e-9)  # (J, 3) m/s
                if np.isfinite(velocity).all():
                    out[b] = out[b] + self.lead_s * velocity
            self._tracks[track] = _Recent(stamp_ns, [*before, (stamp_ns, np.array(pose[b], np.float64))][-ANCHOR:])
        self._tracks.expire(stamp_ns)
        return out
