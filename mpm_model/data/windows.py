"""Torch datasets of fixed-length windows cut from mocap sequences seen by virtual cameras.

Items are (sequence, camera, anchor, k): the target frame (`target_index` inside the window) sits at
anchor + k·step, where step = model fps / presented camera rate (1 at the model's rate; frame-rate
augmentation draws the rate per window, so motion looks as a 20–60 Hz camera would show it). Poses
between mocap frames are interpolated; frames outside the sequence replicate its ends.

Cameras are drawn per window (`ViewOptions.robot_share` robot-mounted, the rest Human3.6M-like), aimed
at the root of the anchor's target frame, and backed off until every frame of the window (of the run of
`run` consecutive targets in evaluation, which share one camera) is in front of them — sequences walk
10 m and more. Joints outside the image are masked. Training draws a new camera per epoch; evaluation
cameras are fixed by (seed, sequence, camera, anchor).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from mpm_model.data.augment import random_bone_scales, scale_bones
from mpm_model.data.camera import (VirtualCamera, keep_in_front, normalize_screen, project, sample_any_camera,
                                   world_to_camera)
from mpm_model.data.detector import DetectorModel, detect_h36m, h36m_to_coco17
from mpm_model.data.mocap import DEFAULT_FPS, MocapSequence, resample
from mpm_model.data.draws import NumpyDraws
from mpm_model.data.occlusion import LASTING_KINDS, lasting_masks, occlusion_mask
from mpm_model.skeleton import NUM_JOINTS, ROOT_JOINT, flip_pose

MIN_VISIBLE_TARGET = 9  # a drawn camera must see this many joints of the target frame (else redraw)
CAMERA_TRIES = 6


@dataclass(frozen=True)
class ViewOptions:
    """How windows are seen: cameras, 2D layout, detector errors, occlusion and presented frame rate.

    `occlusion` masks that fraction of joint-frames in every window (evaluation); `occlusion_max` masks
    a fraction drawn from [0, occlusion_max] in half the windows (training). `rate_range` draws the
    presented camera rate (Hz) per window; `present_fps` fixes it (None = the model's rate). `lasting` hides
    one of `occlusion.LASTING_KINDS` in every frame of every window (evaluation); `lasting_share` hides a random
    one of them in that share of the windows (training).
    """

    robot_share: float = 0.0
    coco_share: float = 0.0
    detector: DetectorModel | None = None
    occlusion: float = 0.0
    occlusion_max: float = 0.0
    rate_range: tuple[float, float] | None = None
    present_fps: float | None = None
    flip: bool = False
    bone_scaling: bool = False
    run: int = 1
    lasting: str | None = None
    lasting_share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("robot_share", "coco_share", "occlusion", "occlusion_max", "lasting_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ViewOptions.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.rate_range is not None and not 0 < self.rate_range[0] <= self.rate_range[1]:
            raise ValueError(f"ViewOptions.rate_range must be 0 < low <= high, got {self.rate_range}")
        if self.present_fps is not None and not self.present_fps > 0:
            raise ValueError(f"ViewOptions.present_fps must be > 0, got {self.present_fps}")
        if self.run < 1:
            raise ValueError(f"ViewOptions.run must be >= 1, got {self.run}")
        if self.lasting is not None and self.lasting not in LASTING_KINDS:
            raise ValueError(f"ViewOptions.lasting must be one of {LASTING_KINDS} or None, got {self.lasting!r}")


def training_view(robot_share: float = 0.6, coco_share: float = 0.5, occlusion_max: float = 0.4,
                  rate_range: tuple[float, float] = (20.0, 60.0), lasting_share: float = 0.25,
                  exact_share: float = 0.15) -> ViewOptions:
    """The training recipe: mixed cameras, detector-like 2D (`exact_share` of the windows exact), COCO-mapped
    share, occlusion (random and lasting), rate augmentation."""
    return ViewOptions(robot_share=robot_share, coco_share=coco_share, detector=DetectorModel(exact_share=exact_share),
                       occlusion_max=occlusion_max, rate_range=rate_range, flip=True, bone_scaling=True,
                       lasting_share=lasting_share)


def interpolate_frames(poses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(N, J, 3) poses at fractional frame `positions` (W,), clamped to the sequence -> (W, J, 3)."""
    positions = np.clip(np.asarray(positions, np.float64), 0.0, len(poses) - 1)
    lo = np.minimum(np.floor(positions).astype(np.int64), len(poses) - 1)
    hi = np.minimum(lo + 1, len(poses) - 1)
    w = (positions - lo)[:, None, None]
    return (poses[lo] * (1.0 - w) + poses[hi] * w).astype(np.float32)


def split_unpaired(sequences: list[MocapSequence], seed: int = 0) -> tuple[list[MocapSequence], list[MocapSequence]]:
    """Disjoint halves (for 2D, for 3D) so unpaired pretraining never sees both views of a clip.

    Whole sequences are shuffled by `seed` and dealt alternately; a single sequence is cut in time.
    """
    if not sequences:
        raise ValueError("split_unpaired: no sequences")
    if len(sequences) == 1:
        seq = sequences[0]
        if len(seq) < 2:
            raise ValueError(f"split_unpaired: sequence {seq.name!r} is too short to split")
        half = len(seq) // 2
        return ([MocapSequence(f"{seq.name}[2d]", seq.subject, seq.fps, seq.poses3d[:half], seq.source)],
                [MocapSequence(f"{seq.name}[3d]", seq.subject, seq.fps, seq.poses3d[half:], seq.source)])
    order = np.random.default_rng(seed).permutation(len(sequences))
    return [sequences[i] for i in order[0::2]], [sequences[i] for i in order[1::2]]


class _WindowIndex(Dataset):
    """Shared bookkeeping: resampling, items, per-window cameras, epochs."""

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int, cameras_per_seq: int,
                 seed: int, augment: bool, fps: float, target_index: int | None,
                 view: ViewOptions | None) -> None:
        if not sequences:
            raise ValueError("windows: no sequences given")
        if window < 1 or stride < 1 or cameras_per_seq < 1:
            raise ValueError("windows: window, stride and cameras_per_seq must be >= 1, "
                             f"got {window}, {stride}, {cameras_per_seq}")
        self.target_index = window // 2 if target_index is None else int(target_index)
        if not 0 <= self.target_index < window:
            raise ValueError(f"windows: target_index must be in [0, {window}), got {target_index}")
        self.fps = float(fps)
        self.sequences = [resample(s, fps) if abs(s.fps - fps) > 1e-9 else s for s in sequences]
        self.window, self.stride, self.cameras_per_seq = window, stride, cameras_per_seq
        view = view or ViewOptions()
        self.seed, self.augment, self.epoch, self.view = seed, augment, 0, view
        step = self.fps / view.present_fps if view.present_fps else 1.0
        items = [(s, c, a, k) for s, seq in enumerate(self.sequences) for c in range(cameras_per_seq)
                 for a in range(0, len(seq), stride) for k in range(view.run) if a + k * step <= len(seq) - 1]
        self.items = np.asarray(items, dtype=np.int64).reshape(-1, 4)  # (items, [seq, camera, anchor, k])

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (new cameras, rates, bone scales and detector errors in training)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def item_sources(self) -> np.ndarray:
        """(items,) source name of each item (for source-balanced sampling)."""
        names = np.asarray([s.source for s in self.sequences])
        return names[self.items[:, 0]] if len(self) else names[:0]

    def _rngs(self, index: int) -> tuple[np.random.Generator, np.random.Generator]:
        """(per-item augmentation rng, camera rng shared by a run)."""
        s, c, a, _ = (int(v) for v in self.items[index])
        epoch = self.epoch if self.augment else 0
        return (np.random.default_rng([self.seed, epoch, index, 1]),
                np.random.default_rng([self.seed, epoch, s, c, a, 0]))

    def _step(self, cam_rng: np.random.Generator) -> float:
        if self.view.present_fps:
            return self.fps / self.view.present_fps
        if self.view.rate_range and self.augment:
            return self.fps / cam_rng.uniform(*self.view.rate_range)
        return 1.0

    def _positions(self, anchor: int, k: int, step: float) -> np.ndarray:
        """(window,) fractional frame positions of the window whose target is the k-th of the run."""
        return anchor + (k + np.arange(self.window) - self.target_index) * step

    def _view(self, index: int) -> tuple[np.ndarray, VirtualCamera, np.random.Generator]:
        """(T, J, 3) world poses of item `index` (bone-scaled in training), its camera, its augmentation rng."""
        if not 0 <= index < len(self):
            raise IndexError(f"window index {index} out of range [0, {len(self)})")
        s, _, anchor, k = (int(v) for v in self.items[index])
        aug_rng, cam_rng = self._rngs(index)
        poses_all = self.sequences[s].poses3d
        step = self._step(cam_rng)
        poses = interpolate_frames(poses_all, self._positions(anchor, k, step))
        run_frames = interpolate_frames(poses_all, np.concatenate(
            [self._positions(anchor, j, step) for j in range(self.view.run)]))  # every frame the camera sees
        anchor_pose = interpolate_frames(poses_all, np.array([anchor], np.float64))[0]  # first target of the run
        cam = self._draw_camera(cam_rng, run_frames, anchor_pose)
        if self.augment and self.view.bone_scaling:
            poses = scale_bones(poses, random_bone_scales(aug_rng))
        return poses, cam, aug_rng

    def _draw_camera(self, rng: np.random.Generator, frames: np.ndarray, target_pose: np.ndarray) -> VirtualCamera:
        """A camera aimed at `target_pose`'s root that sees enough of it and has all `frames` in front."""
        cam = None
        for _ in range(CAMERA_TRIES):
            kind = "robot" if rng.random() < self.view.robot_share else "h36m"
            aim = target_pose[ROOT_JOINT] + (np.append(rng.uniform(-0.3, 0.3, size=2), 0.0) if kind == "h36m" else 0.0)
            cam = keep_in_front(sample_any_camera(rng, aim, kind), frames)
            uv = project(world_to_camera(target_pose, cam), cam)
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
            if inside.sum() >= MIN_VISIBLE_TARGET:
                break
        return cam

    def camera(self, index: int) -> VirtualCamera:
        """The virtual camera of item `index` (bone scaling never moves the root it looks at)."""
        return self._view(index)[1]

    def _camera_poses(self, index: int) -> tuple[np.ndarray, VirtualCamera, np.random.Generator]:
        """(T, J, 3) camera-frame poses (flipped half the time in training), camera, rng."""
        poses, cam, rng = self._view(index)
        cam_poses = world_to_camera(poses, cam)
        if self.augment and self.view.flip and rng.random() < 0.5:
            cam_poses = flip_pose(cam_poses)  # principal point is centred: 2D flips along
        return cam_poses, cam, rng


class LiftingWindows(_WindowIndex):
    """Paired windows: dict(keypoints2d (T,J,2) float32 normalised screen, mask (T,J) bool True=masked,
    pose3d (T,J,3) float32 root-relative camera-frame metres). Masked 2D entries are 0.

    Joints outside the image, joints whose simulated confidence is below the detector's threshold and
    the occluded ones are masked.
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, cameras_per_seq: int = 4,
                 seed: int = 0, augment: bool = True, fps: float = DEFAULT_FPS, target_index: int | None = None,
                 view: ViewOptions | None = None) -> None:
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, fps, target_index, view)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        cam_poses, cam, rng = self._camera_poses(index)
        coco = rng.random() < self.view.coco_share
        uv_coco = project(h36m_to_coco17(cam_poses), cam) if coco else None
        uv, confidence = detect_h36m(project(cam_poses, cam), uv_coco, rng, self.view.detector)
        outside = (uv[..., 0] < 0) | (uv[..., 0] >= cam.width) | (uv[..., 1] < 0) | (uv[..., 1] >= cam.height)
        threshold = self.view.detector.min_confidence if self.view.detector else 0.0
        mask = outside | (confidence < threshold) if threshold > 0 else outside.copy()
        ratio = self.view.occlusion
        if self.augment and self.view.occlusion_max > 0 and rng.random() < 0.5:
            ratio = max(ratio, rng.uniform(0.0, self.view.occlusion_max))
        if ratio > 0:
            mask |= occlusion_mask(rng, self.window, NUM_JOINTS, ratio)
        mask |= self._lasting(rng, uv)
        keypoints = normalize_screen(uv, cam.width, cam.height).astype(np.float32)
        keypoints[mask] = 0.0
        pose3d = cam_poses - cam_poses[:, ROOT_JOINT:ROOT_JOINT + 1]
        return {
            "keypoints2d": torch.from_numpy(keypoints),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)),
            "pose3d": torch.from_numpy(pose3d.astype(np.float32)),
        }


    def _lasting(self, rng: np.random.Generator, uv: np.ndarray) -> np.ndarray:
        """(T, J) occlusion that lasts the window (ViewOptions.lasting / lasting_share; `lasting_masks`)."""
        if self.view.lasting:
            kind = LASTING_KINDS.index(self.view.lasting)
        elif self.augment and self.view.lasting_share > 0 and rng.random() < self.view.lasting_share:
            kind = int(rng.integers(len(LASTING_KINDS)))
        else:
            return np.zeros(uv.shape[:-1], dtype=bool)
        pixels = torch.from_numpy(np.asarray(uv, np.float64))[None]
        return lasting_masks(NumpyDraws(rng), pixels, torch.tensor([kind]))[0].numpy()


class Pose2DWindows(LiftingWindows):
    """2D-only windows for masked 2D pretraining: dict(keypoints2d, mask) as in `LiftingWindows`.

    With `unpaired=True` only the 2D half of `split_unpaired(sequences, seed)` is used.
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, cameras_per_seq: int = 4,
                 seed: int = 0, augment: bool = True, fps: float = DEFAULT_FPS, target_index: int | None = None,
                 view: ViewOptions | None = None, unpaired: bool = False) -> None:
        if unpaired:
            sequences = split_unpaired(sequences, seed)[0]
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, fps, target_index, view)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        return {"keypoints2d": item["keypoints2d"], "mask": item["mask"]}


class Pose3DWindows(_WindowIndex):
    """3D-only windows for masked 3D pretraining and completion: dict(pose3d (T,J,3) float32 root-relative
    metres in the frame of a random camera).

    With `unpaired=True` only the 3D half of `split_unpaired(sequences, seed)` is used.
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, seed: int = 0,
                 augment: bool = True, cameras_per_seq: int = 4, fps: float = DEFAULT_FPS,
                 target_index: int | None = None, unpaired: bool = False,
                 view: ViewOptions | None = None) -> None:
        if unpaired:
            sequences = split_unpaired(sequences, seed)[1]
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, fps, target_index, view)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        cam_poses, _, _ = self._camera_poses(index)
        pose3d = cam_poses - cam_poses[:, ROOT_JOINT:ROOT_JOINT + 1]
        return {"pose3d": torch.from_numpy(pose3d.astype(np.float32))}
