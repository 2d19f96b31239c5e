"""The ground plane (ROS-free, numpy): the floor people stand on, in the camera frame, and per track a size factor
against it that corrects the track's 2D-fit roots.

Why: a 2D fit knows a person's distance only from the lifted skeleton's size, so a person the lifter believes 10 %
too big is placed 10 % too far (a slowly varying per-person bias, -2 .. +6 % over 72 people, docs/TEMPORAL.md). The
ray through the pixel of a foot on the floor meets the floor at a distance that does not depend on that size.
- The floor is GIVEN when the camera's height above it and its pitch are known (a robot's URDF:
  `ground_camera_height` > 0, `ground_camera_pitch`, no roll): n = (0, cos pitch, sin pitch) in the camera's
  optical frame (x right, y down, z forward), the ankles' plane n.X = d with d = height - ANKLE_HEIGHT_M.
- Else it is LEARNED (measured to lose, docs/TEMPORAL.md "Root, round 5"): scaling a person about the camera centre
  keeps a plane's normal, so each track's feet lie on a plane parallel to the floor and the scatter of each track's
  contacts about its own centre, pooled over tracks (`ground_memory` contacts), has n as its least direction; d is
  the mean over depth-placed feet, else over every 2D-fitted foot (the crowd's mean bias stays).
- A track's size factor is d / d_track, d_track = n . (the mean of its own 2D-fitted contacts over
  `ground_size_memory` contacts): every 2D fit of the track is scaled about the camera centre by it to the power
  `ground_weight` (the two log-distances weighed, as measurements of similar noise), also in frames
  where the person jumps or the feet are hidden. Depth fits are never changed, nor the 2D fits of a track depth
  has placed (the RootFilter leans on its depth-era state; that track's 2D fits are its hidden frames).
A contact is the lower ankle of the 2D-fitted pose, seen in the 2D, within `ground_gate` (a fraction of the
track's own floor distance) of the track's own plane once the floor is trusted (a jump, stairs, a misfit are no
contacts: `ground.contact_gated`). A learned floor is trusted after MIN_CONTACTS contacts that span it in both
directions (not a line), a given one after MIN_TRACK_CONTACTS, while most recent feet fall within the gate. When
most fall outside (the camera tilted: a pan-tilt head, a robot on a slope), or the camera matrix changes, the
estimate restarts (`ground.plane_reset`) and no fit is corrected until the floor is trusted again: the roots are
today's. A given floor the feet have left is not trusted again until another floor is given (the parameters
change).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mpm_model.skeleton import H36M_JOINTS
from mpm_model.streaming.placement import DEPTH, REPROJECTION
from mpm_model.streaming.temporal import TemporalOptions
from mpm_model.streaming.track_states import TrackStates

ANKLES = (H36M_JOINTS.index("right_ankle"), H36M_JOINTS.index("left_ankle"))
ANKLE_HEIGHT_M = 0.10  # the ankle joint above the floor of a standing person (the mocap's own convention)
MIN_CONTACTS = 60.0  # effective contacts before the plane is trusted
MIN_TRACK_CONTACTS = 10  # contacts of a track before its size factor is used
PLANARITY = 0.05  # least / middle eigenvalue of the pooled scatter above this: no plane
MIN_SPREAD_M2 = 0.05  # middle eigenvalue per contact below this (m²): the contacts lie along a line
RECENT_CONTACTS = 20.0  # memory (contacts) of the share of recent feet outside the gate
MOVED_SHARE = 0.5  # that share above this: the plane moved (the camera tilted): start again
MAX_FACTOR = 1.4  # a size factor beyond [1 / MAX_FACTOR, MAX_FACTOR] is no size error: not used
MAX_FOOT_M = 100.0  # a foot farther than this is no foot


@dataclass
class _Means:
    weight: float = 0.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,)

    def add(self, point: np.ndarray, memory: float) -> None:
        self.weight = (1 - 1 / memory) * self.weight + 1
        self.mean = self.mean + (point - self.mean) / self.weight


@dataclass
class _TrackFeet:
    stamp_ns: int  # the last frame seen (TrackStates' continuity rule)
    contacts: int = 0  # 2D-fitted contacts since the track (re)started
    depth_fed: bool = False  # placed by depth since: its 2D fits are left to the RootFilter's depth-era state
    recent: _Means = field(default_factory=lambda: _Means())  # its 2D-fitted contacts over ground_size_memory, m
    spread: _Means = field(default_factory=lambda: _Means())  # the same over ground_memory: the scatter's centre


class GroundPlane:
    """One floor per camera, one size factor per track (module docstring); `correct` once per source frame."""

    def __init__(self, reset_after_s: float = 1.0) -> None:
        self._tracks: TrackStates[_TrackFeet] = TrackStates(reset_after_s)
        self._intrinsics: np.ndarray | None = None
        self._given: tuple[float, float] | None = None  # (camera height m, pitch deg) of a given floor
        self._given_moved = False  # the feet left the given floor (the camera tilted): not trusted until another
        self.restart()

    def set_timeout(self, reset_after_s: float) -> None:
        self._tracks.set_timeout(reset_after_s)

    def restart(self) -> None:
        """Forget the plane and every track's feet."""
        self._scatter = np.zeros((3, 3))  # pooled within-track scatter of the contacts
        self._weight = 0.0  # effective contacts in it
        self._normal = np.array([0.0, 1.0, 0.0])  # camera y is down: a level camera's floor normal until learned
        if self._given is not None:
            pitch = np.deg2rad(self._given[1])
            self._normal = np.array([0.0, np.cos(pitch), np.sin(pitch)])  # the given floor's, no roll
        self._planar = self._given is not None  # a given floor needs no spread of feet
        self._outside = 0.0  # recent share of feet outside the gate
        self._fitted, self._depth = _Means(), _Means()  # every 2D-fitted contact; every depth-placed one
        self._tracks.clear()

    @property
    def trusted(self) -> bool:
        needed = MIN_TRACK_CONTACTS if self._given is not None else MIN_CONTACTS  # a given floor is not learned
        return self._weight >= needed and self._planar and self._outside < MOVED_SHARE and not self._given_moved

    def plane(self) -> tuple[np.ndarray, float] | None:
        """(n (3,), d): the ankles' plane n.X = d in the camera frame, or None while it is not trusted."""
        if not self.trusted:
            return None
        if self._given is not None:
            return self._normal, self._given[0] - ANKLE_HEIGHT_M
        source = self._depth if self._depth.weight >= MIN_CONTACTS else self._fitted
        return self._normal, float(self._normal @ source.mean)

    def correct(self, stamp_ns: int, track_ids: tuple[int, ...], pose: np.ndarray, translation: np.ndarray,
                method: np.ndarray, intrinsics: np.ndarray, seen: np.ndarray, counts: Counter,
                options: TemporalOptions) -> np.ndarray:
        """(B, J, 3) root-relative poses + (B, 3) root fits + (B,) their placement + (B, 3, 3) camera matrices (NaN:
        none) + (B, J) bool joints seen in the 2D of one source frame → (B, 3) the fits with each 2D fit scaled by
        its track's size factor (where the floor and the track's feet are trusted). The feet of this frame are
        learned first; counts get ground.*.
        With `ground_plane` off: the fits as they are, and everything forgotten (switching it on starts afresh)."""
        out = np.array(translation, np.float64)  # (B, 3)
        if not options.ground_plane:
            if self._weight or len(self._tracks):
                self.restart()
            return out
        given = (options.ground_camera_height, options.ground_camera_pitch) if options.ground_camera_height > 0 \
            else None
        if given != self._given:  # another floor given (or none): learn afresh against it
            self._given, self._given_moved = given, False
            self.restart()
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
            lower = int(np.argmax(ankles @ self._normal))
            if seen[b, ANKLES[lower]]:  # a hidden foot is the lifter's guess, no evidence of the floor
                self._learn(ankles[lower], int(method[b]), feet, counts, options)
            feet.depth_fed = feet.depth_fed or method[b] == DEPTH
            if method[b] == REPROJECTION and not feet.depth_fed:
                out[b] = self._corrected(out[b], feet, counts, options.ground_weight)
        self._tracks.expire(stamp_ns)
        return out

    def _learn(self, foot: np.ndarray, method: int, feet: _TrackFeet, counts: Counter,
               options: TemporalOptions) -> None:
        """One frame's lower ankle (3,): a contact unless the trusted plane puts it beyond the gate from the track's
        own plane; a share of recent feet outside the gate above MOVED_SHARE restarts the plane."""
        if self.trusted and feet.recent.weight > 0 and method == REPROJECTION:
            own = float(self._normal @ feet.recent.mean)  # the track's floor distance
            outside = not abs(float(self._normal @ foot) - own) <= options.ground_gate * abs(own)
            self._outside += (float(outside) - self._outside) / RECENT_CONTACTS
            if self._outside >= MOVED_SHARE:
                counts["ground.plane_reset"] += 1  # the floor moved in the camera frame: the camera tilted
                self._given_moved = self._given is not None  # a given floor is wrong now: no more corrections
                self.restart()
                return
            if outside:
                counts["ground.contact_gated"] += 1
                return
        memory = options.ground_memory
        if method == DEPTH:
            self._depth.add(foot, memory)
            return
        self._weight = (1 - 1 / memory) * self._weight + 1
        feet.recent.add(foot, options.ground_size_memory)
        feet.contacts += 1
        counts["ground.contacts"] += 1
        if self._given is None:
            self._learn_floor(foot, feet, memory)

    def _learn_floor(self, foot: np.ndarray, feet: _TrackFeet, memory: float) -> None:
        """A learned floor: the contact (3,) joins the pooled scatter about its track's own long-run centre (in-plane
        that spans where the person walked, so the 2D fit's per-frame error along the viewing ray, a few % of the
        distance, hardly tilts the normal), and the normal is its least direction once the feet span a plane."""
        centre = feet.spread
        self._scatter = (1 - 1 / memory) * self._scatter + centre.weight / (centre.weight + 1) * np.outer(
            foot - centre.mean, foot - centre.mean)
        centre.add(foot, memory)
        self._fitted.add(foot, memory)
        values, vectors = np.linalg.eigh(self._scatter)  # ascending
        normal = vectors[:, 0] * (1.0 if vectors[:, 0] @ self._fitted.mean >= 0 else -1.0)  # towards the floor
        self._planar = bool(values[0] <= PLANARITY * values[1] and values[1] >= MIN_SPREAD_M2 * self._weight)
        if self._planar:
            self._normal = normal

    def _corrected(self, fit: np.ndarray, feet: _TrackFeet, counts: Counter, weight: float) -> np.ndarray:
        """(3,) a 2D fit scaled about the camera centre by the track's size factor to the power `weight`, or as it
        was."""
        plane = self.plane()
        if plane is None or feet.contacts < MIN_TRACK_CONTACTS:
            return fit
        normal, offset = plane
        own = float(normal @ feet.recent.mean)
        factor = offset / own if own > 0 else np.inf
        if not 1 / MAX_FACTOR <= factor <= MAX_FACTOR:
            counts["ground.factor_refused"] += 1
            return fit
        counts["ground.corrected"] += 1
        return fit * factor ** weight
