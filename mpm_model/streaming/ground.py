"""The ground plane (ROS-free, numpy): the floor people stand on, in the camera frame, and per track a size factor
against it that corrects the track's 2D-fit roots.

Why: a 2D fit knows a person's distance only from the lifted skeleton's size, so a person the lifter believes 10 %
too big is placed 10 % too far (a slowly varying per-person bias, -2 .. +6 % over 72 people, docs/TEMPORAL.md). The
ray through the pixel of a foot on the floor meets the floor at a distance that does not depend on that size.
- The floor is GIVEN, never learned (a floor learned from the people's feet was measured to lose, and was removed:
  docs/TEMPORAL.md "Root, round 5"). One representation, `Floor`: in the camera's optical frame (x right, y down,
  z forward) the unit normal n pointing from the camera down to the floor and the camera's height h above it (a
  floor point X has n.X = h). Two sources: the parameters (`ground_camera_height` > 0 and `ground_camera_pitch`,
  no roll: `floor_from_pitch`), else the caller's floor of that frame (the node: the `ground_frame` looked up with
  tf2, `floor_from_transform`; roll included). Neither: nothing is corrected (`ground.no_floor`).
- The ankles' plane is n.X = d with d = h - ANKLE_HEIGHT_M. A contact's ratio is n.X / d for the 2D-fitted lower
  ankle X, against the floor of ITS frame: the person's size error, which does not depend on where the camera looks,
  so a head that tilts (the floor following in TF) keeps every contact. A track's size factor is 1 / (the mean of
  its ratios over `ground_size_memory` contacts): every 2D fit of the track is scaled about the camera centre by it
  to the power `ground_weight` (the two log-distances weighed, as measurements of similar noise), also in frames
  where the person jumps or the feet are hidden. Depth fits are never changed, nor the 2D
  fits of a track depth has placed (the RootFilter leans on its depth-era state; that track's 2D fits are its
  hidden frames).
A contact is the lower ankle of the 2D-fitted pose, seen in the 2D, within `ground_gate` (a fraction of the
track's mean ratio) of the track's mean ratio once the floor is trusted (a jump, stairs, a misfit are no
contacts: `ground.contact_gated`). The floor is trusted after more than MIN_TRACK_CONTACTS contacts (pooled over
tracks), while most recent feet fall within the gate. When most fall outside (the camera tilted and the floor
given did not follow: a head whose TF lags, a robot on a slope), the estimate restarts (`ground.plane_reset`) and
no fit is corrected until the floor given moves by more than FLOOR_TILT_DEG or FLOOR_SHIFT_M from the one the feet
left, or the parameters change: the roots are today's. Setting the parameters, or switching between them and TF,
restarts the contacts (`ground.floor_changed`: they were measured against another calibration); a floor moving in
TF never does. Another camera matrix restarts them (`ground.plane_reset`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from mpm_model.skeleton import H36M_JOINTS
from mpm_model.streaming.frames import Transform
from mpm_model.streaming.placement import DEPTH, REPROJECTION
from mpm_model.streaming.temporal import TemporalOptions
from mpm_model.streaming.track_states import TrackStates

ANKLES = (H36M_JOINTS.index("right_ankle"), H36M_JOINTS.index("left_ankle"))
ANKLE_HEIGHT_M = 0.10  # the ankle joint above the floor of a standing person (the mocap's own convention)
MIN_TRACK_CONTACTS = 10  # contacts of a track before its size factor is used (and, pooled, before the floor is)
RECENT_CONTACTS = 20.0  # memory (contacts) of the share of recent feet outside the gate
MOVED_SHARE = 0.5  # that share above this: the feet left the floor (the camera tilted): stop correcting
MAX_FACTOR = 1.4  # a size factor beyond [1 / MAX_FACTOR, MAX_FACTOR] is no size error: not used
MAX_FOOT_M = 100.0  # a foot farther than this is no foot; a camera higher than this above its floor is no floor
# After the feet left a floor, a floor given this far from it is trusted again (contacts afresh). 0.5 deg and 2 cm
# are about the calibration the floor needs to win at all (docs/TEMPORAL.md: 0.5 deg / 5 cm off already cost part of
# the gain, 1 deg / 10 cm lose against no floor); tf2's own rounding and a vibrating mast (well under 0.1 deg and
# 1 cm) stay below.
FLOOR_TILT_DEG = 0.5
FLOOR_SHIFT_M = 0.02
UNIT_NORMAL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Floor:
    """The floor in a camera's optical frame (x right, y down, z forward): a floor point X has normal . X = height."""

    normal: np.ndarray  # (3,) unit, pointing from the camera down to the floor
    height: float  # m, the camera above the floor

    def problem(self) -> str | None:
        """Why this is no floor to place people on (not finite, not a unit normal, the camera not above it), or
        None."""
        normal = np.asarray(self.normal, np.float64)
        if normal.shape != (3,) or not (np.isfinite(normal).all() and np.isfinite(self.height)):
            return f"a floor of normal {normal.tolist()} and height {self.height} m is not finite"
        if abs(float(np.linalg.norm(normal)) - 1.0) > UNIT_NORMAL_TOLERANCE:
            return f"the floor's normal {normal.tolist()} is not a unit vector"
        if not ANKLE_HEIGHT_M < self.height <= MAX_FOOT_M:
            return f"the camera is {self.height:.3f} m above the floor (the frame's z axis must point up, and the " \
                f"camera be above the people's ankles, {ANKLE_HEIGHT_M:g} m, and at most {MAX_FOOT_M:g} m)"
        return None

    def moved_from(self, other: Floor) -> bool:
        """More than FLOOR_TILT_DEG or FLOOR_SHIFT_M from `other` (an identical floor never has)."""
        cosine = float(np.clip(self.normal @ other.normal, -1.0, 1.0))
        return np.degrees(np.arccos(cosine)) > FLOOR_TILT_DEG or abs(self.height - other.height) > FLOOR_SHIFT_M


@lru_cache(maxsize=8)
def floor_from_pitch(height_m: float, pitch_deg: float) -> Floor:
    """The floor of a camera `height_m` above it, pitched `pitch_deg` below the horizon, no roll (the parameters;
    the same Floor object while they stay, so GroundPlane checks it once)."""
    pitch = np.deg2rad(pitch_deg)
    normal = np.array([0.0, np.cos(pitch), np.sin(pitch)])
    normal.flags.writeable = False  # shared by every caller of the cache
    return Floor(normal, height_m)


def floor_from_transform(floor_in_camera: Transform) -> Floor:
    """The floor frame's pose in the camera's optical frame (p_camera = R p_floor + t, as tf2 gives the floor frame
    looked up in the camera frame) → its Floor. The floor frame lies on the floor with z up (REP 103 / 105:
    base_footprint), so the normal down is n = -R z and the camera, at the camera frame's origin, is h = n . t above
    it (t, the floor frame's origin, is on the floor). A camera below the floor frame gives h <= 0: no floor
    (Floor.problem)."""
    normal = -floor_in_camera.rotation[:, 2]  # (3,) the floor's up in the camera frame, turned down
    return Floor(normal, float(normal @ floor_in_camera.translation))


def given_floor(options: TemporalOptions, floor_at: Callable[[int], Floor | None] | None,
                stamp_ns: int) -> Floor | None:
    """The floor of the frame at `stamp_ns`: the parameters' when `ground_camera_height` > 0, else the caller's
    (`floor_at`, the node's tf2 lookup; asked only then), else None."""
    if options.ground_camera_height > 0:
        return floor_from_pitch(options.ground_camera_height, options.ground_camera_pitch)
    return floor_at(stamp_ns) if floor_at is not None else None


@dataclass
class _Means:
    weight: float = 0.0
    mean: float = 0.0

    def add(self, value: float, memory: float) -> None:
        self.weight = (1 - 1 / memory) * self.weight + 1
        self.mean += (value - self.mean) / self.weight


@dataclass
class _TrackFeet:
    stamp_ns: int  # the last frame seen (TrackStates' continuity rule)
    contacts: int = 0  # 2D-fitted contacts since the track (re)started
    depth_fed: bool = False  # placed by depth since: its 2D fits are left to the RootFilter's depth-era state
    recent: _Means = field(default_factory=lambda: _Means())  # its contacts' ratios over ground_size_memory


class GroundPlane:
    """One given floor per camera, one size factor per track (module docstring); `correct` once per source frame."""

    def __init__(self, reset_after_s: float = 1.0) -> None:
        self._tracks: TrackStates[_TrackFeet] = TrackStates(reset_after_s)
        self._intrinsics: np.ndarray | None = None
        self._source: tuple[float, ...] | None = None  # the parameters' (height, pitch), () for TF; None: not started
        self._floor: Floor | None = None  # this frame's
        self._left: Floor | None = None  # the floor the feet left (the camera tilted): not trusted until another
        self.restart()

    def set_timeout(self, reset_after_s: float) -> None:
        self._tracks.set_timeout(reset_after_s)

    def restart(self) -> None:
        """Forget every track's feet."""
        self._contacts = 0  # contacts since the restart, pooled over tracks
        self._outside = 0.0  # recent share of feet outside the gate
        self._tracks.clear()

    @property
    def trusted(self) -> bool:
        return self._floor is not None and self._contacts > MIN_TRACK_CONTACTS and self._left is None

    def correct(self, stamp_ns: int, track_ids: tuple[int, ...], pose: np.ndarray, translation: np.ndarray,
                method: np.ndarray, intrinsics: np.ndarray, seen: np.ndarray, counts: Counter,
                options: TemporalOptions, floor_at: Callable[[int], Floor | None] | None = None) -> np.ndarray:
        """(B, J, 3) root-relative poses + (B, 3) root fits + (B,) their placement + (B, 3, 3) camera matrices (NaN:
        none) + (B, J) bool joints seen in the 2D of one source frame → (B, 3) the fits with each 2D fit scaled by
        its track's size factor (where the floor and the track's feet are trusted). The floor: `given_floor` (the
        parameters', else `floor_at`'s for this stamp); the feet of this frame are learned first; counts get
        ground.*. With `ground_plane` off: the fits as they are, and everything forgotten (switching it on starts
        afresh); without a floor this frame: the fits as they are (`ground.no_floor`), the tracks' feet kept."""
        out = np.array(translation, np.float64)  # (B, 3)
        if not options.ground_plane:
            if self._contacts or len(self._tracks):
                self.restart()
            self._source = self._floor = self._left = None
            return out
        if not ((method == REPROJECTION) | (method == DEPTH)).any():  # nothing placed: no floor needed
            return out
        floor = given_floor(options, floor_at, stamp_ns)
        checked = floor is self._floor  # the last frame's floor object: already checked
        if floor is not None and not checked and floor.problem():
            counts["ground.floor_invalid"] += len(track_ids)
            floor = None
        if floor is None:
            counts["ground.no_floor"] += len(track_ids)
            return out
        source = (options.ground_camera_height, options.ground_camera_pitch) if options.ground_camera_height > 0 else ()
        if source != self._source:  # contacts measured against another calibration: afresh
            if self._source is not None:
                counts["ground.floor_changed"] += 1
            self._source, self._left = source, None
            self.restart()
        elif self._left is not None and not checked and floor.moved_from(self._left):  # another floor: afresh
            self._left = None
            self.restart()
        self._floor = floor
        for b, track_id in enumerate(track_ids):
            k = np.asarray(intrinsics[b], np.float64)
            if not np.isfinite(k).all() or method[b] not in (REPROJECTION, DEPTH):
                continue
            if self._intrinsics is not None and (k != self._intrinsics).any():
                counts["ground.plane_reset"] += 1  # another camera: another floor in its frame
                self.restart()
            self._intrinsics = k.copy()
            feet = self._tracks.continuing(int(track_id), stamp_ns) or _TrackFeet(stamp_ns)
            feet.stamp_ns = stamp_ns
            self._tracks[int(track_id)] = feet
            ankles = np.asarray(pose[b], np.float64)[list(ANKLES)] + out[b]  # (2, 3) camera frame
            if not (np.isfinite(ankles).all() and (np.abs(ankles) < MAX_FOOT_M).all()):
                counts["ground.foot_invalid"] += 1
                continue
            lower = int(np.argmax(ankles @ floor.normal))
            if seen[b, ANKLES[lower]] and method[b] == REPROJECTION:  # a hidden foot is the lifter's guess
                self._learn(float(ankles[lower] @ floor.normal) / (floor.height - ANKLE_HEIGHT_M), feet, counts,
                            options)
            feet.depth_fed = feet.depth_fed or method[b] == DEPTH
            if method[b] == REPROJECTION and not feet.depth_fed:
                out[b] = self._corrected(out[b], feet, counts, options.ground_weight)
        self._tracks.expire(stamp_ns)
        return out

    def _learn(self, ratio: float, feet: _TrackFeet, counts: Counter, options: TemporalOptions) -> None:
        """One frame's contact ratio (the 2D-fitted lower ankle's floor distance over the floor's): a contact unless
        the trusted floor puts it beyond the gate from the track's mean; a share of recent feet outside the gate
        above MOVED_SHARE stops the corrections."""
        if self.trusted and feet.recent.weight > 0:
            own = feet.recent.mean
            outside = not abs(ratio - own) <= options.ground_gate * abs(own)
            self._outside += (float(outside) - self._outside) / RECENT_CONTACTS
            if self._outside >= MOVED_SHARE:
                counts["ground.plane_reset"] += 1  # the floor moved in the camera frame: the camera tilted
                self._left = self._floor  # the given floor is wrong now: no more corrections until another
                self.restart()
                return
            if outside:
                counts["ground.contact_gated"] += 1
                return
        self._contacts += 1
        feet.recent.add(ratio, options.ground_size_memory)
        feet.contacts += 1
        counts["ground.contacts"] += 1

    def _corrected(self, fit: np.ndarray, feet: _TrackFeet, counts: Counter, weight: float) -> np.ndarray:
        """(3,) a 2D fit scaled about the camera centre by the track's size factor to the power `weight`, or as it
        was."""
        if not self.trusted or feet.contacts < MIN_TRACK_CONTACTS:
            return fit
        own = feet.recent.mean
        factor = 1 / own if own > 0 else np.inf
        if not 1 / MAX_FACTOR <= factor <= MAX_FACTOR:
            counts["ground.factor_refused"] += 1
            return fit
        counts["ground.corrected"] += 1
        return fit * factor ** weight
