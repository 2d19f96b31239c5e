"""StreamingLifter: frames of per-track 2D keypoints in, per-track 3D skeletons out — the node's work, without ROS.

One object owns the per-track windows (WindowBuffer), runs ONE backend.infer() for every track whose window is
ready, splits the batch, and places each skeleton in the camera frame with the intrinsics (one batched solve).
The two halves can run on different threads, as in the node: `push()` (cheap, on the input thread) returns the
emissions, `lift()` (the inference, on a worker) turns them into results. `step()` does both in one call.

Timing: a causal model answers for the newest frame (minus its lookahead), a centred one for frame t - T//2;
every result carries the stamp of the source frame it describes, never the stamp of the frame that triggered it.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from mpm_model.config import ModelConfig
from mpm_model.streaming.camera import Camera
from mpm_model.streaming.depth import DepthImage
from mpm_model.streaming.ground import Floor, GroundPlane
from mpm_model.streaming.lead import PoseLead
from mpm_model.streaming.lifting import infer_windows
from mpm_model.streaming.options import LifterOptions
from mpm_model.streaming.placement import FitQualities, place
from mpm_model.streaming.refiner import PoseRefiner, RefinerWeights
from mpm_model.streaming.smoothing import JointSmoother
from mpm_model.streaming.temporal import RootFilter
from mpm_model.streaming.window_buffer import BufferConfig, Emission, Observation, PushResult, WindowBuffer


class InferenceBackend(Protocol):
    """What the lifter needs of a backend (mpm_model.deploy.backends.Backend has it)."""

    config: ModelConfig

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Lifted:
    """The 3D skeletons of the tracks seen in one source frame."""

    stamp_ns: int  # the source frame's stamp
    track_ids: tuple[int, ...]
    joints: np.ndarray  # (B, J, 3) float64 metres: camera frame where placed, else root-relative
    confidence: np.ndarray  # (B, J) float32 input confidence of the source frame, 0 where masked
    mask: np.ndarray  # (B, J) bool, True = joint masked in the source frame
    placed: np.ndarray  # (B,) bool
    placement: np.ndarray  # (B,) uint8: placement.NOT_PLACED / REPROJECTION / DEPTH, temporal.PREDICTED
    root_velocity: np.ndarray  # (B, 3) m/s, NaN where unknown
    root_covariance: np.ndarray  # (B, 3, 3) m², NaN where unknown


@dataclass(frozen=True)
class LiftBatch:
    results: list[Lifted]
    inference_s: float  # wall time of the one backend.infer() call
    counts: Counter = field(default_factory=Counter)  # placement and root state counters (depth.*, temporal.*)


class StreamingLifter:
    """Per-track windows → one batched inference → placed per-track 3D (see the module docstring)."""

    def __init__(self, backend: InferenceBackend, options: LifterOptions = LifterOptions(),
                 refiner: RefinerWeights | None = None) -> None:
        """`refiner`: the pose refiner trained for this backend's lifter weights (refiner.refiner_for), or None:
        the One Euro filter (smoothing options) is the pose filter then."""
        self.backend = backend
        cfg = backend.config
        self.buffer = WindowBuffer(BufferConfig(window=cfg.window, target_index=cfg.target_index,
                                                num_joints=cfg.num_joints, options=options.stream))
        self.smoother = JointSmoother()  # root-relative pose, per track
        self.refiner = None if refiner is None else PoseRefiner(refiner)  # or this, when on (options.temporal)
        self.lead = PoseLead()  # either's output carried ahead (options.temporal.pose_lead)
        self.roots = RootFilter()  # root position + velocity, per track
        self.ground = GroundPlane()  # the floor and each track's size factor against it (2D fits)
        self.set_options(options)

    @property
    def config(self) -> ModelConfig:
        return self.backend.config

    @property
    def options(self) -> LifterOptions:
        return self._options

    @property
    def delay_frames(self) -> int:
        """Frames between the newest input and the frame an output describes."""
        return self.buffer.config.delay_frames

    @property
    def track_ids(self) -> list[int]:
        return self.buffer.track_ids

    def measured_rate_hz(self) -> float | None:
        return self.buffer.measured_rate_hz()

    def set_options(self, options: LifterOptions) -> None:
        """Apply new options at once, to every part (track_timeout too: the filters forget with it); live tracks
        keep their history."""
        self._options = options
        self.buffer.config = dataclasses.replace(self.buffer.config, options=options.stream)
        self.smoother.set_options(options.smoothing, options.stream.track_timeout)
        if self.refiner is not None:
            self.refiner.set_timeout(options.stream.track_timeout)
        self.lead.set_options(options.temporal.pose_lead, options.stream.track_timeout)
        self.roots.set_options(options.temporal, options.stream.track_timeout)
        self.ground.set_timeout(options.stream.track_timeout)

    def admit(self, stamp_ns: int, arrival_ns: int | None = None) -> str:
        """Judge a frame's stamp before decoding it (WindowBuffer.admit): "ok", a refusal, or a reset."""
        return self.buffer.admit(stamp_ns, arrival_ns)

    def push(self, stamp_ns: int, observations: dict[int, Observation], camera: Camera,
             admitted: str | None = None, arrival_ns: int | None = None) -> PushResult:
        """Add one frame of every track; the result's emissions are the windows ready for lift()."""
        return self.buffer.push(stamp_ns, observations, camera.width, camera.height, admitted, arrival_ns)

    def lift(self, emissions: list[Emission], camera: Camera | Sequence[Camera],
             depth: Callable[[int], DepthImage | None] | None = None,
             floor: Callable[[int], Floor | None] | None = None) -> LiftBatch:
        """One backend.infer() over every emitted window, split per source frame, placed when possible.

        `camera`: one for all, or one per emission — the camera of that emission's own stamp (a centred model's
        output describes an older frame than the newest). `depth`: looks up the aligned depth image of a source
        frame's stamp, or None (placed from 2D alone, counted). It is called after the inference, so an image
        still in transit while the model runs is found. An image whose size differs from its camera's is not used
        (`depth.size_mismatch`). `floor`: looks up the floor of a source frame's stamp (the node: its ground_frame
        through tf2), or None; asked only while ground_plane is on without ground_camera_height (ground.given_floor).
        The root-relative pose (smoothing) and the root (temporal.RootFilter: filtered, gated, predicted) are
        filtered separately, then joined.
        """
        if not emissions:
            return LiftBatch([], 0.0)
        keypoints = np.concatenate([e.keypoints for e in emissions])  # (B, T, J, 2)
        mask = np.concatenate([e.mask for e in emissions])  # (B, T, J)
        started = time.monotonic()
        stream = self.options.stream
        lifted = infer_windows(self.backend, keypoints, mask, stream.gap_fill_frames,
                               stream.mirrors(len(keypoints)))  # (B, 1, J, 3)
        pose3d = np.asarray(lifted)[:, 0].astype(np.float64)  # (B, J, 3) root-relative
        inference_s = time.monotonic() - started
        cameras = [camera] * len(emissions) if isinstance(camera, Camera) else list(camera)
        sizes = [len(e.track_ids) for e in emissions]
        translation, method, counts = np.zeros((len(pose3d), 3)), np.zeros(len(pose3d), np.uint8), Counter()
        quality = FitQualities.nominal(len(pose3d))  # (B,) records; each fit judged by its method until placed
        k = np.full((len(pose3d), 3, 3), np.nan)  # (B, 3, 3), NaN where not placeable
        if self.options.stream.place_in_camera_frame and any(c.intrinsics is not None for c in cameras):
            k = np.concatenate([np.broadcast_to(np.nan if c.intrinsics is None else c.intrinsics, (n, 3, 3))
                                for c, n in zip(cameras, sizes)])
            images = None
            if depth is not None:
                found = [depth(e.stamp_ns) for e in emissions]
                fits = [d if d is None or (d.width, d.height) == (c.width, c.height) else None
                        for d, c in zip(found, cameras)]
                counts["depth.size_mismatch"] += sum(n for d, f, n in zip(found, fits, sizes)
                                                     if d is not None and f is None)
                images = [image for image, n in zip(fits, sizes) for _ in range(n)]
            placement = place(pose3d, np.concatenate([e.target_pixels for e in emissions]),
                              np.concatenate([e.target_confidence for e in emissions]), k, images,
                              self.options.depth)
            translation, method, counts = placement.translation, placement.method, counts + placement.counts
            quality = placement.quality
        results, start = [], 0
        for emission, n in zip(emissions, sizes):
            end, ids = start + n, tuple(emission.track_ids)
            pose = self._pose_filter(emission, pose3d[start:end], counts)  # (n, J, 3) root-relative
            fits = self.ground.correct(emission.stamp_ns, ids, pose3d[start:end], translation[start:end],
                                       method[start:end], k[start:end], ~emission.target_mask, counts,
                                       self.options.temporal, floor)  # (n, 3)
            roots = self.roots.update(emission.stamp_ns, ids, fits, method[start:end], k[start:end], counts,
                                      quality[start:end])
            placed = roots.placement > 0
            joints = pose + np.where(placed[:, None, None], roots.translation[:, None, :], 0.0)
            results.append(Lifted(emission.stamp_ns, ids, joints, emission.target_confidence, emission.target_mask,
                                  placed, roots.placement, roots.velocity, roots.covariance))
            start = end
        return LiftBatch(results, inference_s, counts)

    def _pose_filter(self, emission: Emission, pose: np.ndarray, counts: Counter) -> np.ndarray:
        """The learned refiner when there is one for this lifter and it is on (given the source frame's 2D; its
        gated joints counted), else the One Euro filter; then carried pose_lead seconds ahead (lead.PoseLead)."""
        stamp_ns, track_ids = emission.stamp_ns, tuple(emission.track_ids)
        if self.refiner is not None and self.options.temporal.pose_refiner:
            self.smoother.clear()
            pose = self.refiner.filter(stamp_ns, track_ids, pose, emission.target_pixels, emission.target_mask,
                                       counts)
        else:
            if self.refiner is not None:
                self.refiner.clear()
            pose = self.smoother.filter(stamp_ns, track_ids, pose)
        return self.lead.apply(stamp_ns, track_ids, pose)

    def step(self, stamp_ns: int, observations: dict[int, Observation], camera: Camera,
             arrival_ns: int | None = None) -> tuple[PushResult, list[Lifted]]:
        """push() then lift() in one call (single-threaded use: tests, offline processing, benchmarks)."""
        result = self.push(stamp_ns, observations, camera, arrival_ns=arrival_ns)
        return result, self.lift(result.emissions, camera).results
