"""Per-track root state (ROS-free, numpy): the root as position + velocity in the camera frame, a Kalman filter
(velocity decaying towards zero, adaptive process noise) fed by each output frame's root fit (placement.place) with
that fit's own uncertainty.

Why: a root fit judges every frame alone. The 2D fit guesses the distance from the person's size, so its error
lies along the viewing ray and grows with the distance (`root_reprojection_sigma` x distance); a depth fit is good
to a few centimetres plus the sensor's noise (~k z²). A person half hidden behind a pole still has keypoints, and
that fit throws them a metre away: the measurement is compared with the prediction (Mahalanobis distance of the
innovation) and, beyond `root_gate` sigmas, rejected (`temporal.root_gated`). Without an accepted measurement the
root is predicted and published as PREDICTED, never as a measurement, for at most `root_max_prediction` seconds
since the last accepted one; after that, a measurement restarts the state (`temporal.reset_reacquired`: the person
did move, or upstream switched identities) and without one the skeleton goes back to root-relative
(`temporal.prediction_expired`). A state fed by 2D fits is no surer than they are: `root_reacquire` consecutive
gated 2D fits that agree with each other restart it too (a misread pose pulled it away); a depth-fed state restarts
so on agreeing depth fits (an occluder's depth fit pulled it away), never on 2D fits (behind a pole they agree, and
are wrong). A gated depth fit restarts a state at once when the state's last accepted fit was no sure depth fit
(a 2D fit, or a depth fit from fewer than `root_depth_samples` joint samples: maybe an occluder's, which then
locked the person's own fits out, round 10b) and the gated one is sure: from `root_depth_samples` joint samples, or
beyond the state (occluders are in front of the person). A few-sample one nearer than the state may be an
occluder's (a pole's 2 samples: round 10): it is gated, and restarts the state only as `root_reacquire` agreeing
gated fits do; a state started from such a fit is no surer than 2D fits (their agreement restarts it). A depth fit
that another track's depth fit from more joint samples explains (the same frame; within the gate of their summed
covariances) is that person's depth, seen through the keypoints of a person behind them (round 11): accepted where
the gate takes it, but it never counts as sure and a gated one restarts nothing (_another_persons).
Each fit's covariance knows its depth samples and the pose's error at its joints (placement.FitQuality).

Predictions only exist while the track has output frames: the window buffer emits a frame when the person has
keypoints in it, so a person with none at all gets no output (there is no pose to place); their state waits, and
is used again if they come back within `root_max_prediction`, else restarted.

Adaptive process noise (`root_adaptive_noise`): a constant process noise cannot serve both a walker seen by depth
(low noise: smooth, predicted through a pole) and a far runner who stops or turns (the state overshoots by metres).
The mean of the last ~ADAPT_FITS accepted innovations is tested against their spread, measured over the last
~SPREAD_FITS (not the nominal measurement noise, which for a 2D fit also holds its slow bias): white noise averages
out, a manoeuvre does not, and the process noise grows by that ratio (at most `root_adaptive_noise` x) until the
state has caught up. Only accepted fits count: a gated fit (a pole, a wrong depth group) never loosens the
gate. The velocity decays towards zero with time constant `root_velocity_decay` (people stop and turn; a constant
velocity carried through a stop is the overshoot).

A 2D fit is only as sure as the joints it used (`root_fit_conditioning`): a person half behind a pole is fitted from
a few close-together joints, whose distance is worse than the nominal noise says (placement.fit_conditioning). A
state fed by depth weighs such a fit as that much noisier along the ray (judged at the gate as a nominal 2D fit),
and its manoeuvre statistics restart when depth and 2D fits take turns (a 2D fit's bias against depth is no
manoeuvre), so it leans on the depth-era state. A state fed by 2D fits alone is no surer than they are: unchanged.

Resets, each counted: the track unseen for longer than `track_timeout` (an id reused: `temporal.reset_stale`), its
stamps going back (`temporal.reset_stamp_back`), another camera matrix (`temporal.reset_camera_changed`). A
measurement that is NaN or absurd (`temporal.root_invalid`) is no measurement.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mpm_model.streaming.depth import SENSOR_NOISE_PER_M2
from mpm_model.streaming.placement import DEPTH, NOT_PLACED, REPROJECTION, FitQualities, FitQuality
from mpm_model.streaming.track_states import TrackStates
from mpm_model.tunable import check, tunable

PREDICTED = 3  # = mpm_msgs/Skeleton3D.PREDICTED
MAX_ROOT_M = 100.0  # a root fit farther than this is not a measurement
LATERAL_SIGMA0_M, LATERAL_SLOPE = 0.01, 0.005  # across the ray: pixel noise and the pose's own wobble, + 0.5 % of d
REPROJECTION_FLOOR_M = 0.1  # a 2D fit is never surer than this along the ray (a person entering, half in view)
DEPTH_SIGMA0_M = 0.04  # a depth fit along the ray: body shape and surface offsets, + the sensor's k z²
INITIAL_SPEED_SIGMA = 1.5  # m/s: a new track's unknown velocity (a brisk walk)
GATE_FLOOR_M = 0.15  # the gate never rejects a fit this close (x root_gate) to the prediction: a turn, a stop
CONFIRM_UPDATES = 3  # accepted fits before a state is believed: until then an outlier restarts it (no prediction)
ADAPT_FITS = 3.0  # the mean innovation's memory (fits, exponential): a manoeuvre is caught within a few frames
SPREAD_FITS = 20.0  # the innovations' spread's memory (fits, exponential)
SPREAD_FLOOR_M2 = 1e-3  # added to the spread: a still person's near-identical fits are no manoeuvre
_EYE3 = np.eye(3)
_GATE_FLOOR = GATE_FLOOR_M ** 2 * _EYE3
# process noise = q (dt^4/4 PP + dt^3/2 PV + dt^2 VV) (white acceleration, per axis; the constant-velocity form)
_PP, _PV, _VV = (np.kron(block, _EYE3) for block in (np.array([[1.0, 0], [0, 0]]), np.array([[0, 1.0], [1, 0]]),
                                                      np.array([[0, 0], [0, 1.0]])))


@dataclass(frozen=True)
class TemporalOptions:
    """The root state's tunables (all may change while streaming). Defaults: the best of a grid on `make
    demo-rgbd`'s bag through the library (docs/TEMPORAL.md)."""

    pose_refiner: bool = tunable(True, "Learned causal refiner on the root-relative pose (used only with the lifter "
                                 "weights it was trained for; otherwise, or when false, the One Euro smoothing "
                                 "parameters apply)")
    pose_lead: float = tunable(0.0, "Seconds the root-relative pose is carried ahead along its own velocity (from "
                               "the stamps of its last outputs, lead.PoseLead): 1/30 s takes the default's one-frame "
                               "lag back at 30 Hz, at ~45 % more acceleration error (docs/TEMPORAL.md); 0 = off",
                               0.0, 0.2)
    root_filter: bool = tunable(True, "Per-track root state (Kalman filter of position and velocity in the camera "
                                "frame): filtered root, velocity and covariance out, outlier fits gated, short "
                                "losses predicted (placement PREDICTED)")
    root_acceleration: float = tunable(5.0, "Root acceleration the filter expects (m/s², its process noise): "
                                       "higher follows sudden moves sooner, smooths less", 0.01, 100.0)
    root_gate: float = tunable(3.0, "A root fit farther than this many standard deviations (Mahalanobis) from "
                               "the prediction is rejected (counted temporal.root_gated)", 1.0, 100.0)
    root_max_prediction: float = tunable(1.0, "Longest time (s) a root is predicted without an accepted fit "
                                         "(placement PREDICTED); 0 = never predicted", 0.0, 10.0)
    root_adaptive_noise: float = tunable(100.0, "Most the process noise may grow (x) while the recent innovations "
                                         "show a manoeuvre (a stop, a turn) the state has not followed; 1 = fixed "
                                         "process noise", 1.0, 10000.0)
    root_velocity_decay: float = tunable(3.0, "Time constant (s) of the root velocity's decay towards zero (people "
                                         "stop and turn); 0 = constant velocity", 0.0, 100.0)
    root_reacquire: int = tunable(5, "A state restarts (temporal.reset_reacquired) after this many consecutive "
                                  "gated fits of the kind it last accepted (2D or depth) that agree with each other "
                                  "(the state, not the fits, went wrong); against a 2D-fed state few-sample depth "
                                  "fits count too (root_depth_samples); a state that last accepted depth never "
                                  "restarts on 2D fits, unless it started from a few-sample depth fit; 0 = never",
                                  0, 100)
    root_depth_samples: int = tunable(8, "A gated depth fit from at least this many accepted joint depth samples, "
                                      "or beyond the state, restarts a state that last accepted a 2D fit or a "
                                      "depth fit from fewer at once (depth is surer; the fewer may have been an "
                                      "occluder's); a nearer one from fewer (maybe an occluder's) only as "
                                      "root_reacquire agreeing gated fits do, and a state started from one "
                                      "restarts on agreeing 2D fits too; 1 = every depth fit at once", 1, 100)
    root_reprojection_sigma: float = tunable(0.1, "Standard deviation of a 2D-fit root along the viewing ray, as a "
                                             "fraction of its distance", 0.001, 1.0)
    root_fit_conditioning: float = tunable(0.25, "A 2D fit against a state fed by depth counts as this power of "
                                           "its conditioning (how much worse the joints it used pin the distance "
                                           "than every joint would) times noisier along the ray, and the state's "
                                           "manoeuvre statistics restart when depth and 2D fits take turns: a "
                                           "person half behind a pole leans on the depth-era state; 0 = every 2D "
                                           "fit alike", 0.0, 4.0)
    ground_plane: bool = tunable(True, "Scale each track's 2D-fit roots by its size factor against a given floor "
                                 "(ground.GroundPlane): from ground_camera_height and _pitch, else from "
                                 "ground_frame's TF (a robot's URDF); with neither, nothing is corrected (counted "
                                 "ground.no_floor: the roots of false exactly); depth fits unchanged; a floor the "
                                 "feet leave (camera tilted) stops it; a floor 1 deg or 10 cm off loses against false")
    ground_camera_height: float = tunable(0.0, "The camera's height above the floor (m) when known: the floor is "
                                          "given by it and ground_camera_pitch (both known to better than 0.5 deg "
                                          "and 5 cm, docs/TEMPORAL.md; set, it wins over ground_frame); 0 = the "
                                          "floor comes from ground_frame, if any", 0.0, 20.0)
    ground_camera_pitch: float = tunable(0.0, "The camera's pitch below the horizon (deg, no roll) when "
                                         "ground_camera_height gives the floor", -90.0, 90.0)
    ground_size_memory: float = tunable(3.0, "Contacts a track's size factor remembers (exponential forgetting; 1 = "
                                        "the last contact's plane-ray distance alone)", 1.0, 10000.0)
    ground_weight: float = tunable(0.75, "How much the floor's distance counts against the 2D fit's (a weight of "
                                   "their logarithms, as for two measurements of similar noise): a 2D fit is scaled "
                                   "by its track's size factor to this power; 1 = the floor's alone", 0.0, 1.0)
    ground_gate: float = tunable(0.2, "A track's lower ankle farther from its own floor than this fraction of the "
                                 "floor's distance is no contact (a jump, stairs, a misfit: ground.contact_gated); "
                                 "when most recent feet are, the floor moved (the camera tilted)", 0.01, 1.0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class RootEstimate:
    """The roots of one source frame's tracks, after the state."""

    translation: np.ndarray  # (B, 3) metres, 0 where not placed
    placement: np.ndarray  # (B,) uint8: NOT_PLACED / REPROJECTION / DEPTH / PREDICTED
    velocity: np.ndarray  # (B, 3) m/s, NaN where unknown
    covariance: np.ndarray  # (B, 3, 3) m², NaN where unknown


def measurement_covariance(translation: np.ndarray, method: int, options: TemporalOptions,
                           quality: FitQuality = FitQuality(), fit_scale: float = 1.0) -> np.ndarray:
    """(3,) root fit + its method and quality → (3, 3) covariance: lateral sigma across the viewing ray, at least
    `quality.lateral` (the pose's error at the joints the fit used, placement.pose_lateral_sigma), the method's
    along it (a 2D fit's times `fit_scale`; a depth fit's sensor noise averaged over its `quality.samples`
    accepted joint samples, each a patch median with its own noise, while the body-shape term, shared by every
    joint, stays whole)."""
    distance = float(np.linalg.norm(translation))
    ray = translation / distance  # (3,)
    lateral = max(LATERAL_SIGMA0_M + LATERAL_SLOPE * distance, quality.lateral)
    along = DEPTH_SIGMA0_M + SENSOR_NOISE_PER_M2 * translation[2] ** 2 / np.sqrt(max(quality.samples, 1)) \
        if method == DEPTH else max(options.root_reprojection_sigma * distance * fit_scale, REPROJECTION_FLOOR_M)
    along = max(along, lateral)
    return lateral ** 2 * _EYE3 + (along ** 2 - lateral ** 2) * np.outer(ray, ray)


@dataclass
class _Track:
    stamp_ns: int  # the state's time
    measured_ns: int  # the last accepted measurement's stamp
    intrinsics: np.ndarray  # (3, 3) the camera the state lives in
    state: np.ndarray  # (6,) position m, velocity m/s
    covariance: np.ndarray  # (6, 6)
    updates: int  # accepted measurements since the (re)start
    method: int  # the last accepted measurement's placement
    mean_innovation: np.ndarray  # (3,) recent accepted innovations, exponentially averaged (ADAPT_FITS)
    spread: np.ndarray  # (3, 3) their second moment over SPREAD_FITS (starts at the first fit's covariance)
    manoeuvre: float = 1.0  # the mean against its spread under white noise (1 = the model fits): scales q
    rejected: list = field(default_factory=list)  # (3,) gated fits since the last accepted one
    depth_fed: bool = False  # a depth fit was accepted since the (re)start
    weak: bool = False  # started from a few-sample depth fit, none from root_depth_samples accepted since
    sure: bool = False  # the last accepted fit was a depth fit from root_depth_samples (_sure)


class RootFilter:
    """One root state per track id (see the module docstring); `update` once per source frame."""

    def __init__(self, options: TemporalOptions = TemporalOptions(), reset_after_s: float = 1.0) -> None:
        self._tracks: TrackStates[_Track] = TrackStates(reset_after_s)
        self.set_options(options, reset_after_s)

    def set_options(self, options: TemporalOptions, reset_after_s: float) -> None:
        """Live: the next update uses them; `reset_after_s` is the streams' track_timeout."""
        self.options = options
        self._tracks.set_timeout(reset_after_s)

    def update(self, stamp_ns: int, track_ids: tuple[int, ...], translation: np.ndarray, method: np.ndarray,
               intrinsics: np.ndarray, counts: Counter, quality: FitQualities | None = None) -> RootEstimate:
        """(B, 3) root fits + (B,) their placement + (B, 3, 3) camera matrices (NaN: none) of the source frame
        `stamp_ns` (+ the fits' qualities, placement.Placement.quality; None: FitQualities.nominal, each fit judged
        by its method alone) → RootEstimate; the reasons for gating, prediction and resets are added to `counts`."""
        batch = len(track_ids)
        velocity, covariance = np.full((batch, 3), np.nan), np.full((batch, 3, 3), np.nan)
        if not self.options.root_filter:
            self._tracks.clear()  # switching it on later starts fresh
            return RootEstimate(np.asarray(translation, np.float64), np.asarray(method, np.uint8), velocity,
                                covariance)
        out, placement = np.zeros((batch, 3)), np.zeros(batch, np.uint8)
        quality = FitQualities.nominal(batch) if quality is None else quality
        another = self._another_persons(np.asarray(translation, np.float64), np.asarray(method), quality)
        for b, track_id in enumerate(track_ids):
            root = self._one(stamp_ns, int(track_id), np.asarray(translation[b], np.float64), int(method[b]),
                             np.asarray(intrinsics[b], np.float64), counts, quality[b], bool(another[b]))
            if root is None:
                continue
            placement[b] = root
            state = self._tracks[int(track_id)]
            out[b], covariance[b] = state.state[:3], state.covariance[:3, :3]
            if state.updates >= 2:  # one fit says nothing about the speed
                velocity[b] = state.state[3:]
        self._tracks.expire(stamp_ns)
        return RootEstimate(out, placement, velocity, covariance)

    def _another_persons(self, fits: np.ndarray, method: np.ndarray, quality: FitQualities) -> np.ndarray:
        """(B, 3) root fits of one source frame → (B,) whether each is a depth fit that another track's depth fit
        from more joint samples explains: the two within `root_gate` of their summed nominal covariances plus the
        gate's floor (fits that close are no two people's roots). A person behind another has keypoints, and the
        depth at most of them is the front person's (RGB-D bag S2: 2-8 sample fits 1.4 m in front of their person,
        ~0.1 m from the front person's 15-sample fit), so such a fit is no sure depth fit for this track and never
        overrules its state (_one)."""
        depth = np.flatnonzero((method == DEPTH) & np.isfinite(fits).all(axis=1) & (fits[:, 2] > 0))
        another = np.zeros(len(fits), bool)
        r = {i: measurement_covariance(fits[i], DEPTH, self.options, quality[i]) for i in depth}  # (3, 3) each, once
        for a in depth:
            for b in depth:
                if quality.samples[b] > quality.samples[a]:
                    d = fits[a] - fits[b]
                    another[a] |= bool(d @ np.linalg.solve(r[a] + r[b] + _GATE_FLOOR, d) <= self.options.root_gate ** 2)
        return another

    def _one(self, stamp_ns: int, track_id: int, fit: np.ndarray, method: int, k: np.ndarray,
             counts: Counter, quality: FitQuality, another: bool = False) -> int | None:
        """One track: its placement, with its state advanced to stamp_ns, or None (not placed, no state).
        `another`: the fit is another person's depth (_another_persons): accepted where the gate takes it, but never
        sure, and a gated one restarts nothing (the young state's outlier rule, _surer, _fits_agree)."""
        if not np.isfinite(k).all():  # no camera: root-relative, nothing to hold
            self._tracks.forget(track_id)
            return None
        measured = method in (REPROJECTION, DEPTH)
        if measured and not (np.isfinite(fit).all() and fit @ fit <= MAX_ROOT_M ** 2 and fit[2] > 0):
            counts["temporal.root_invalid"] += 1
            measured = False
        track = self._tracks.get(track_id)
        broken = self._tracks.break_reason(track_id, stamp_ns) or (
            "camera_changed" if track is not None and (k != track.intrinsics).any() else None)
        if broken:
            counts[f"temporal.reset_{broken}"] += 1
            self._tracks.forget(track_id)
            track = None
        if track is None:
            return self._start(stamp_ns, track_id, fit, method, k, quality, another) if measured else None
        self._predict(track, stamp_ns)
        predicting = stamp_ns - track.measured_ns <= self.options.root_max_prediction * 1e9
        if measured:
            nominal = measurement_covariance(fit, method, self.options, quality)  # (3, 3) judges the fit at the gate
            weaker = self.options.root_fit_conditioning > 0 and method == REPROJECTION and track.depth_fed
            r = measurement_covariance(fit, method, self.options, quality,
                                       quality.conditioning ** self.options.root_fit_conditioning) \
                if weaker else nominal  # (3, 3) weighs it
            innovation = fit - track.state[:3]  # (3,)
            s = track.covariance[:3, :3] + r
            if innovation @ np.linalg.inv(track.covariance[:3, :3] + nominal + _GATE_FLOOR) @ innovation \
                    <= self.options.root_gate ** 2:
                if self.options.root_fit_conditioning > 0 and method != track.method:
                    # depth and 2D fits take turns: a 2D fit's bias against depth is no manoeuvre
                    track.mean_innovation, track.spread, track.manoeuvre = np.zeros(3), r.copy(), 1.0
                self._adapt(track, innovation)
                gain = track.covariance[:, :3] @ np.linalg.inv(s)  # (6, 3) = P H^T S^-1
                track.state = track.state + gain @ innovation
                track.covariance = track.covariance - gain @ track.covariance[:3, :]
                track.covariance = 0.5 * (track.covariance + track.covariance.T)
                track.measured_ns, track.updates, track.method = stamp_ns, track.updates + 1, method
                track.depth_fed = track.depth_fed or method == DEPTH
                track.sure = self._sure(method, quality) and not another
                track.weak = track.weak and not track.sure
                track.rejected.clear()
                return method
            counts["temporal.root_gated"] += 1
            if another:
                counts["temporal.root_another_person"] += 1
            if track.updates < CONFIRM_UPDATES and not another:  # not believed yet: the outlier may be its start
                return self._start(stamp_ns, track_id, fit, method, k, quality)
            # a lost prediction, a depth fit surer than the state, or gated fits that agree against it
            if not predicting or not another and (self._surer(track, fit, method, quality)
                                                  or self._fits_agree(track, fit, method, nominal)):
                counts["temporal.reset_reacquired"] += 1
                return self._start(stamp_ns, track_id, fit, method, k, quality, another)
        if predicting:
            counts["temporal.root_predicted"] += 1
            return PREDICTED
        counts["temporal.prediction_expired"] += 1
        self._tracks.forget(track_id)
        return None

    def _start(self, stamp_ns: int, track_id: int, fit: np.ndarray, method: int, k: np.ndarray,
               quality: FitQuality, another: bool = False) -> int:
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = measurement_covariance(fit, method, self.options, quality)
        covariance[3:, 3:] = INITIAL_SPEED_SIGMA ** 2 * np.eye(3)
        sure = self._sure(method, quality) and not another
        self._tracks[track_id] = _Track(stamp_ns, stamp_ns, k.copy(), np.concatenate([fit, np.zeros(3)]),
                                        covariance, 1, method, np.zeros(3), covariance[:3, :3].copy(),
                                        depth_fed=method == DEPTH, weak=method == DEPTH and not sure, sure=sure)
        return method

    def _sure(self, method: int, quality: FitQuality) -> bool:
        """Whether a fit is a depth fit from at least `root_depth_samples` accepted joint samples."""
        return method == DEPTH and quality.samples >= self.options.root_depth_samples

    def _surer(self, track: _Track, fit: np.ndarray, method: int, quality: FitQuality) -> bool:
        """Whether a gated fit restarts the state at once: a depth fit against a state no surer than its last
        accepted fit, a 2D fit (round 3) or a few-sample depth fit (maybe an occluder's, which a depth-fed state
        accepted and then gated the person's own fits: round 10b), that comes from `root_depth_samples` joint
        samples or lies beyond the state. A few-sample depth fit nearer than the state may be an occluder's (a
        pole in front of the person: make_bag's RGB-D bag D1, round 10): it restarts the state only as the gated
        fits that follow agree with it (_fits_agree)."""
        return method == DEPTH and not track.sure and (
            self._sure(method, quality) or fit @ fit > track.state[:3] @ track.state[:3])

    def _fits_agree(self, track: _Track, fit: np.ndarray, method: int, nominal: np.ndarray) -> bool:
        """Whether the last `root_reacquire` gated fits, with this one, agree with each other (consecutive ones
        within the gate of twice this one's (3, 3) `nominal` covariance). A state fed by 2D fits is no surer than
        its fits, and a misread pose (a kick) can pull it away and lock the right fits out: its gated 2D and
        few-sample depth fits count (round 10), as do a state's started from a few-sample depth fit (an occluder's:
        the person's own 2D fits must not be locked out). A state fed by depth can take an occluder's depth fit (a
        person half behind a pole) and its velocity, and then lock out the person's own depth fits, which agree to
        centimetres (round 8): its gated depth fits count, its 2D fits never (a person behind a pole: their 2D fits
        agree, and are wrong)."""
        locked_out = method == REPROJECTION and track.method == DEPTH and not track.weak  # 2D against depth
        if self.options.root_reacquire == 0 or locked_out:
            return False
        track.rejected = [*track.rejected, fit][-self.options.root_reacquire:]
        if len(track.rejected) < self.options.root_reacquire:
            return False
        noise = 2 * nominal + _GATE_FLOOR
        steps = np.diff(np.array(track.rejected), axis=0)  # (n - 1, 3)
        return bool((np.einsum("ni,ij,nj->n", steps, np.linalg.inv(noise), steps) <= self.options.root_gate ** 2).all())

    @staticmethod
    def _adapt(track: _Track, innovation: np.ndarray) -> None:
        """Update the manoeuvre ratio with an accepted (3,) innovation: the exponential mean m (weight w) of white
        innovations of covariance S has covariance ~ w / (2 - w) S, so m^T S^-1 m (2 - w) / w / 3 is ~1 while the
        model fits and grows when the innovations keep one sign (the state trails the person). S: their measured
        spread (SPREAD_FITS)."""
        w, w_spread = 1.0 / ADAPT_FITS, 1.0 / SPREAD_FITS
        track.mean_innovation = (1 - w) * track.mean_innovation + w * innovation
        track.spread = (1 - w_spread) * track.spread + w_spread * np.outer(innovation, innovation)
        m = track.mean_innovation
        track.manoeuvre = float(m @ np.linalg.inv(track.spread + SPREAD_FLOOR_M2 * _EYE3) @ m) * (2 - w) / w / 3

    def _predict(self, track: _Track, stamp_ns: int) -> None:
        """The state to stamp_ns: velocity decaying with root_velocity_decay (0: constant velocity); white-noise
        acceleration of root_acceleration (m/s²) as process noise, grown by the manoeuvre ratio (_adapt)."""
        dt = (stamp_ns - track.stamp_ns) * 1e-9
        transition, tau = np.eye(6), self.options.root_velocity_decay
        decay = np.exp(-dt / tau) if tau > 0 else 1.0
        transition[:3, 3:] = (tau * (1 - decay) if tau > 0 else dt) * _EYE3
        transition[3:, 3:] = decay * _EYE3
        q = self.options.root_acceleration ** 2 * min(max(track.manoeuvre, 1.0), self.options.root_adaptive_noise)
        track.state = transition @ track.state
        track.covariance = transition @ track.covariance @ transition.T + q * (
            dt ** 4 / 4 * _PP + dt ** 3 / 2 * _PV + dt ** 2 * _VV)
        track.stamp_ns = stamp_ns
