"""Per-track ring buffers of the model's T-frame window, with masks, gaps, padding, expiry and stamp checks.

ROS-free and torch-free (numpy only). All tracks advance in lock-step, one step per input frame: a track absent
from a frame gets a fully masked step, and a stamp gap larger than `gap_factor` frame periods inserts masked steps
for every track. A new track starts with T masked padding frames, so the model output starts at its first frame.
Whenever the slot at `target_index` holds a real observation, the window is emitted for inference; the output
then describes that slot's source frame (delay = T - 1 - target_index frames).

Never a confident wrong answer: a frame of a track with fewer than `min_visible_joints` usable joints is not
used (so no window is ever emitted for an all-masked frame), confidences above 1 are masked, and a stamp far
from the stream's recent stamps (more than `stamp_jump` s back, more than `jump_frames` frame periods ahead of the
last accepted one beyond the receive time between them, or more than `stamp_jump` ahead of the receive clock) is
an outlier: dropped and counted, history untouched. Only `confirm_frames` such frames in a row that follow each
other are believed: a forward stall within track_timeout then continues as a gap, anything further (a bag loop,
a clock jump) resets every buffer. The period estimate never drops below 1 / MAX_CAMERA_RATE_HZ, so no burst of
stamps can lock honest frames out (docs/NODE.md: accepted again within 1 s, whatever came before).
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from mpm_model.streaming.options import StreamOptions, confident
from mpm_model.streaming.stamp_lead import ReceiveClockReference, agree_with_receive_clock

NS_PER_S = 1_000_000_000
MAX_CAMERA_RATE_HZ = 120.0  # the period estimate never goes below 1 / this: stamp deltas shorter than it (a burst,
MIN_PERIOD_NS = int(NS_PER_S / MAX_CAMERA_RATE_HZ)  # a backlog flushed 1 ms apart) are summed into one delta
CONFIDENCE_TOLERANCE = 1e-3  # confidences in (1, 1 + this] are rounding noise (clamped to 1), above: masked


@dataclass(frozen=True)
class BufferConfig:
    """The model's window shape, the tunable options (one record, StreamOptions) and the fixed stamp rules."""

    window: int
    target_index: int
    num_joints: int = 17
    options: StreamOptions = StreamOptions()
    gap_factor: float = 1.5  # a stamp gap above gap_factor × period inserts masked frames
    stamp_jump: float = 1.0  # s; a stamp further back, or further ahead of the receive clock, is an outlier
    jump_frames: int = 6  # frame periods; a stamp further ahead is an outlier (stamp_jump before two frames)
    confirm_frames: int = 3  # consecutive consistent outliers that confirm a stall (gap) or a new timeline (reset)

    def __post_init__(self) -> None:
        if self.window < 1 or not 0 <= self.target_index < self.window:
            raise ValueError(f"need window >= 1 and 0 <= target_index < window, got {self.window}, {self.target_index}")
        if self.gap_factor <= 1 or self.options.min_visible_joints > self.num_joints or self.confirm_frames < 1 \
                or self.jump_frames < 2:
            raise ValueError(f"invalid BufferConfig {self}")

    @property
    def delay_frames(self) -> int:
        """Frames between the newest input and the frame an output describes."""
        return self.window - 1 - self.target_index


@dataclass(frozen=True)
class Observation:
    """One track in one frame, already in H36M-17 order."""

    pixels: np.ndarray  # (J, 2) pixels, may hold NaN/inf
    confidence: np.ndarray  # (J,)


@dataclass(frozen=True)
class Emission:
    """Windows ready for inference whose target slot is the source frame `stamp_ns`."""

    stamp_ns: int
    track_ids: list[int]
    keypoints: np.ndarray  # (B, T, J, 2) float32 normalised screen coords, 0 where masked
    mask: np.ndarray  # (B, T, J) bool, True = masked
    target_pixels: np.ndarray  # (B, J, 2) float32 pixels of the target frame, 0 where masked
    target_confidence: np.ndarray  # (B, J) float32, 0 where masked
    target_mask: np.ndarray  # (B, J) bool


RESETS = ("stamp_jump_back", "stamp_jump_forward")  # accepted statuses that cleared every buffer first


@dataclass
class PushResult:
    """status: "ok", a RESETS entry, or why the frame was refused: "duplicate_stamp", "out_of_order_stamp",
    "stamp_outlier"."""

    status: str
    emissions: list[Emission] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # skeletons not used, per reason, e.g. "too_many_tracks"
    masked: Counter = field(default_factory=Counter)  # joints masked for a bad value, per reason
    mostly_outside: int = 0  # skeletons with most of their finite joints outside the image
    gap_frames: int = 0

    @property
    def accepted(self) -> bool:
        return self.status == "ok" or self.status in RESETS


class _TrackRing:
    """Fixed-size ring of the last T frames of one track; `head` is the newest slot."""

    def __init__(self, window: int, joints: int) -> None:
        self.keypoints = np.zeros((window, joints, 2), np.float32)
        self.pixels = np.zeros((window, joints, 2), np.float32)
        self.confidence = np.zeros((window, joints), np.float32)
        self.mask = np.ones((window, joints), bool)
        self.observed = np.zeros(window, bool)
        self.stamps = np.zeros(window, np.int64)
        self.head = window - 1
        self.last_seen_ns = 0

    def push(self, stamp_ns: int, keypoints: np.ndarray | None, pixels: np.ndarray | None,
             confidence: np.ndarray | None, mask: np.ndarray | None) -> None:
        """Write the newest frame; None for everything = a masked frame (absent track or gap)."""
        self.head = (self.head + 1) % len(self.stamps)
        slot = self.head
        self.stamps[slot] = stamp_ns
        self.observed[slot] = mask is not None
        if mask is None:
            self.keypoints[slot] = 0.0
            self.pixels[slot] = 0.0
            self.confidence[slot] = 0.0
            self.mask[slot] = True
        else:
            self.keypoints[slot], self.pixels[slot] = keypoints, pixels
            self.confidence[slot], self.mask[slot] = confidence, mask

    def slot(self, window_index: int) -> int:
        """Physical slot of position `window_index` in the oldest-first window."""
        return (self.head + 1 + window_index) % len(self.stamps)

    def ordered(self) -> np.ndarray:
        return (self.head + 1 + np.arange(len(self.stamps))) % len(self.stamps)


class WindowBuffer:
    """Turns a stream of frames (stamp + per-track observations) into model windows."""

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        self._tracks: dict[int, _TrackRing] = {}
        self._last_stamp_ns: int | None = None
        self._last_arrival_ns: int | None = None
        self._deltas: deque[int] = deque(maxlen=30)  # accepted stamp deltas, each >= MIN_PERIOD_NS
        self._short_ns = 0  # deltas below MIN_PERIOD_NS summed until they reach it (a burst counts as one delta)
        self._outliers: list[tuple[int, int | None]] = []  # recent far (stamp, arrival): a new timeline?
        self._clock = ReceiveClockReference()  # how far stamps run ahead of the receive clock

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    def frame_period_s(self) -> float | None:
        """1 / frame_rate when set, else the median recent stamp delta (never below 1 / MAX_CAMERA_RATE_HZ: a
        burst of closely spaced stamps cannot shrink it); None before two frames."""
        if self.config.options.frame_rate > 0:
            return 1.0 / self.config.options.frame_rate
        if not self._deltas:
            return None
        return float(np.median(self._deltas)) / NS_PER_S

    def measured_rate_hz(self, min_deltas: int = 10) -> float | None:
        """Frame rate of the accepted stamps (median of the recent deltas, at most MAX_CAMERA_RATE_HZ); None before
        min_deltas deltas."""
        if len(self._deltas) < min_deltas:
            return None
        return NS_PER_S / float(np.median(self._deltas))

    def reset(self) -> list[int]:
        """Forget every track and stamp; returns the ids that were live."""
        expired = self.track_ids
        self._tracks.clear()
        self._last_stamp_ns = self._last_arrival_ns = None
        self._deltas.clear()
        self._short_ns = 0
        self._outliers.clear()
        self._clock.reset()
        return expired

    def admit(self, stamp_ns: int, arrival_ns: int | None = None) -> str:
        """Judge a frame's stamp before its content is decoded: "ok", a refusal reason, or a RESETS entry once a
        far jump is confirmed by consecutive frames. Call once per frame, then push() with the result.

        `arrival_ns` (a monotonic receive time): a stamp that ran ahead as far as the wall clock did is a gap
        (a stalled camera, or a consumer that fell behind), not an outlier; a stamp running ahead of the receive
        clock by more than `stamp_jump` (stamp_lead) is one. Outliers are believed once `confirm_frames` of them
        in a row advance with each other as the accepted stamps must (judged against each other's stamps and
        arrival times, never against the last accepted frame) and keep one offset to the receive clock (a clock
        step or a stall, not a stream running ahead). So no history of accepted stamps can lock honest frames
        out: they are believed after `confirm_frames` frames, or once past the last accepted stamp (<= stamp_jump).
        """
        last = self._last_stamp_ns
        if last is None:
            return "ok"
        delta_s = (stamp_ns - last) / NS_PER_S
        if delta_s == 0:
            return "duplicate_stamp"
        if -self.config.stamp_jump <= delta_s < 0:
            return "out_of_order_stamp"
        period = self.frame_period_s()
        ahead_s = self.config.jump_frames * period if period else self.config.stamp_jump
        lead_ns = self._clock.lead_ns(stamp_ns, arrival_ns)
        # more than 1 s (stamp_jump, the backward limit) ahead of the receive clock: a test or tool feeding a
        # short clip faster than real time stays within it, a runaway stream does not; and what was accepted
        # runs at most 1 s ahead, so honest frames are out of order for at most 1 s after it
        running_ahead = lead_ns is not None and lead_ns > self.config.stamp_jump * NS_PER_S
        if self._follows(last, self._last_arrival_ns, stamp_ns, arrival_ns, ahead_s) and not running_ahead:
            self._outliers.clear()
            return "ok"
        outliers = self._outliers
        if outliers and not self._follows(*outliers[-1], stamp_ns, arrival_ns, ahead_s):
            outliers.clear()
        outliers.append((stamp_ns, arrival_ns))
        del outliers[:-self.config.confirm_frames]
        period_ns = None if period is None else int(period * NS_PER_S)
        if len(outliers) < self.config.confirm_frames or not agree_with_receive_clock(outliers, period_ns):
            return "stamp_outlier"
        outliers.clear()
        self._clock.reset()  # believed: this frame starts the reference anew
        if 0 < delta_s <= max(self.config.stamp_jump, self.config.options.track_timeout):
            return "ok"  # a stall, confirmed: continue with a gap of masked frames
        return "stamp_jump_back" if delta_s < 0 else "stamp_jump_forward"

    @staticmethod
    def _follows(previous_ns: int, previous_arrival: int | None, stamp_ns: int, arrival_ns: int | None,
                 ahead_s: float) -> bool:
        """Whether `stamp_ns` may follow `previous_ns`: later, and at most `ahead_s` further than the receive
        clock advanced between the two (a stall or a late consumer is a gap, not a jump)."""
        elapsed_s = 0.0 if arrival_ns is None or previous_arrival is None else \
            (arrival_ns - previous_arrival) / NS_PER_S
        return 0 < (stamp_ns - previous_ns) / NS_PER_S <= ahead_s + max(elapsed_s, 0.0)

    def _record_delta(self, delta_ns: int) -> None:
        """Keep an accepted stamp delta for the period estimate; deltas shorter than MIN_PERIOD_NS add up first."""
        self._short_ns += delta_ns
        if self._short_ns >= MIN_PERIOD_NS:
            self._deltas.append(self._short_ns)
            self._short_ns = 0

    def push(self, stamp_ns: int, observations: dict[int, Observation], width: float, height: float,
             admitted: str | None = None, arrival_ns: int | None = None) -> PushResult:
        """Add one frame (`admitted`: the admit() result when the caller judged the stamp first). Never raises on
        bad data: bad stamps are reported in `status`, drops in `dropped`."""
        result = PushResult(status=self.admit(stamp_ns, arrival_ns) if admitted is None else admitted)
        if not result.accepted:
            return result
        if result.status in RESETS:
            result.expired.extend(self.reset())
        last = self._last_stamp_ns
        if last is not None:
            self._insert_gap_frames(last, stamp_ns, result)
            self._record_delta(stamp_ns - last)
        self._last_stamp_ns, self._last_arrival_ns = stamp_ns, arrival_ns
        period = self.frame_period_s()
        self._clock.accept(stamp_ns, arrival_ns, None if period is None else int(period * NS_PER_S))

        usable = {}
        ids = list(observations)
        if ids:
            prepared = self._prepare(observations, width, height, result)  # all tracks at once
            visible = (~prepared[3]).sum(axis=1)  # (N,)
            for index, track_id in enumerate(ids):
                if visible[index] < self.config.options.min_visible_joints:
                    result.dropped["too_few_visible_joints"] += 1
                elif track_id in self._tracks or len(self._tracks) < self.config.options.max_tracks:
                    usable[track_id] = tuple(array[index] for array in prepared)
                    if track_id not in self._tracks:
                        self._tracks[track_id] = _TrackRing(self.config.window, self.config.num_joints)
                else:
                    result.dropped["too_many_tracks"] += 1
        for track_id, ring in self._tracks.items():
            prepared = usable.get(track_id)
            if prepared is None:
                ring.push(stamp_ns, None, None, None, None)
            else:
                ring.push(stamp_ns, *prepared)
                ring.last_seen_ns = stamp_ns
        self._collect(result)

        timeout_ns = self.config.options.track_timeout * NS_PER_S
        for track_id in [t for t, ring in self._tracks.items() if stamp_ns - ring.last_seen_ns > timeout_ns]:
            del self._tracks[track_id]
            result.expired.append(track_id)
        return result

    def _insert_gap_frames(self, last_ns: int, stamp_ns: int, result: PushResult) -> None:
        period = self.frame_period_s()
        gap_s = (stamp_ns - last_ns) / NS_PER_S
        if period is None or gap_s <= self.config.gap_factor * period:
            return
        missing = min(int(round(gap_s / period)) - 1, self.config.window)
        step_ns = (stamp_ns - last_ns) // (missing + 1)
        for k in range(1, missing + 1):
            for ring in self._tracks.values():
                ring.push(last_ns + k * step_ns, None, None, None, None)
            self._collect(result)
        result.gap_frames = missing

    def _prepare(self, observations: dict[int, Observation], width: float, height: float, result: PushResult
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mask low-confidence, non-finite, out-of-image and confidence > 1 joints of every track in one pass
        (counting the bad values in `result.masked`); zero every masked value. Returns (N, J, 2) normalised
        keypoints, (N, J, 2) pixels, (N, J) confidence, (N, J) mask, in the order of `observations`."""
        joints = self.config.num_joints
        pixels = np.stack([np.asarray(o.pixels, np.float32).reshape(joints, 2) for o in observations.values()])
        confidence = np.stack([np.asarray(o.confidence, np.float32).reshape(joints) for o in observations.values()])
        with np.errstate(invalid="ignore", over="ignore"):
            finite = np.isfinite(pixels).all(axis=-1) & np.isfinite(confidence)  # (N, J)
            x, y = pixels[..., 0], pixels[..., 1]
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            plausible = confidence <= 1.0 + CONFIDENCE_TOLERANCE
            seen = confident(confidence, self.config.options.min_confidence)
        confidence = np.minimum(confidence, np.float32(1.0))
        outside = finite & ~inside
        result.masked["non_finite_keypoints"] += int((~finite).sum())
        result.masked["outside_image"] += int(outside.sum())
        result.masked["confidence_above_one"] += int((finite & inside & ~plausible).sum())
        result.mostly_outside += int((outside.sum(axis=1) > finite.sum(axis=1) / 2).sum())
        mask = ~(finite & inside & seen & plausible)
        pixels = np.where(mask[..., None], np.float32(0.0), pixels)
        confidence = np.where(mask, np.float32(0.0), confidence)
        screen = pixels.astype(np.float64) / width * 2.0 - [1.0, height / width]  # the model's screen coordinates
        keypoints = np.where(mask[..., None], np.float32(0.0), screen)
        return keypoints.astype(np.float32), pixels, confidence, mask

    def _collect(self, result: PushResult) -> None:
        """Emit the windows whose target slot holds an observation (after each lock-step advance)."""
        ready = [(t, r) for t, r in sorted(self._tracks.items()) if r.observed[r.slot(self.config.target_index)]]
        if not ready:
            return
        orders = [ring.ordered() for _, ring in ready]
        targets = [ring.slot(self.config.target_index) for _, ring in ready]
        result.emissions.append(Emission(
            stamp_ns=int(ready[0][1].stamps[targets[0]]),
            track_ids=[track_id for track_id, _ in ready],
            keypoints=np.stack([ring.keypoints[order] for (_, ring), order in zip(ready, orders)]),
            mask=np.stack([ring.mask[order] for (_, ring), order in zip(ready, orders)]),
            target_pixels=np.stack([ring.pixels[s] for (_, ring), s in zip(ready, targets)]),
            target_confidence=np.stack([ring.confidence[s] for (_, ring), s in zip(ready, targets)]),
            target_mask=np.stack([ring.mask[s] for (_, ring), s in zip(ready, targets)]),
        ))
