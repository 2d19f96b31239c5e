"""Batched view pipeline: a whole batch of training windows made at once as tensor operations on the model's
device (CPU or CUDA), deterministic per seed (a `torch.Generator` on that device).

The same recipe as the per-window datasets (`mpm_model.data.windows`, `ViewOptions`), from the same formulas
(`camera.h36m_cameras` / `robot_cameras` / `keep_in_front_batch`, `detector.DetectorModel.detect`,
`coco17_points`, `occlusion.occlusion_masks` / `lasting_masks`, `augment.bone_scale_draws` / `scale_bones_batch`
/ `skeleton.flip_pose`); only where the random numbers come from differs (one generator for the batch instead of one
numpy generator per window). test/test_data_views.py compares the statistics of both on the same mocap.

What stays with the per-window datasets, and why (docs/TRAINING.md, "Windows"): windows fixed per item whatever
the batch (evaluation), every `stride`-th anchor of every sequence once (evaluation, the CLIs' epochs), runs of
targets that share one camera (`ViewOptions.run`, the velocity error). Windows here are drawn with replacement:
a source's share ∝ its frames^`source_balance` (as `BalancedSampler`), a frame uniformly within the source, that
frame the window's target (anchor), the presented camera rate per window. All sequences live on the device, resampled to the model's rate and concatenated (`MotionBank`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mpm_model.data.augment import bone_scale_draws, scale_bones_batch
from mpm_model.data.camera import CameraBatch, h36m_cameras, keep_in_front_batch, robot_cameras
from mpm_model.data.detector import COCO_LR_PAIRS, coco17_points, coco_to_h36m_batch
from mpm_model.data.draws import TorchDraws
from mpm_model.data.mocap import MocapSequence, resample
from mpm_model.data.occlusion import LASTING_KINDS, lasting_masks, occlusion_masks
from mpm_model.data.windows import CAMERA_TRIES, MIN_VISIBLE_TARGET, ViewOptions
from mpm_model.skeleton import H36M_LEFT, H36M_RIGHT, NUM_JOINTS, ROOT_JOINT, flip_pose

H36M_LR_PAIRS = tuple(zip(H36M_LEFT, H36M_RIGHT))


@dataclass(frozen=True)
class MotionBank:
    """Every sequence at the model's rate, concatenated on one device, with the frame-sampling weights."""

    poses: torch.Tensor  # (F, J, 3) world metres
    start: torch.Tensor  # (S,) first frame of each sequence in `poses`
    length: torch.Tensor  # (S,) frames per sequence
    sequence: torch.Tensor  # (F,) sequence of each frame
    cumulative: torch.Tensor  # (F,) cumulative sampling weight (float64, ends at 1)
    sources: tuple[str, ...]  # (S,) source of each sequence
    shares: dict[str, float]  # each source's share of the windows drawn

    @classmethod
    def build(cls, sequences: list[MocapSequence], fps: float, device: torch.device | str,
              source_balance: float = 0.25) -> "MotionBank":
        if not sequences:
            raise ValueError("MotionBank: no sequences")
        if not 0.0 <= source_balance <= 1.0:
            raise ValueError(f"source balance must be in [0, 1], got {source_balance}")
        seqs = [resample(s, fps) if abs(s.fps - fps) > 1e-9 else s for s in sequences]
        lengths = np.array([len(s) for s in seqs], np.int64)
        sources = np.array([s.source for s in seqs])
        names, inverse = np.unique(sources, return_inverse=True)
        frames = np.bincount(inverse, weights=lengths).astype(np.float64)  # frames per source
        share = frames ** source_balance
        share /= share.sum()
        weight = np.repeat(share[inverse] / frames[inverse], lengths)  # (F,) per frame
        device = torch.device(device)
        return cls(poses=torch.from_numpy(np.concatenate([s.poses3d for s in seqs])).to(device),
                   start=torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)[:-1]])).to(device),
                   length=torch.from_numpy(lengths).to(device),
                   sequence=torch.from_numpy(np.repeat(np.arange(len(seqs)), lengths)).to(device),
                   cumulative=torch.from_numpy(np.cumsum(weight) / weight.sum()).to(device),
                   sources=tuple(sources.tolist()), shares=dict(zip(names.tolist(), share.tolist())))

    @property
    def device(self) -> torch.device:
        return self.poses.device

    def draw_anchors(self, draws: TorchDraws) -> tuple[torch.Tensor, torch.Tensor]:
        """(sequence (B,), anchor frame within it (B,)) drawn by the source-balanced frame weights."""
        u = draws.random().double()
        frame = torch.searchsorted(self.cumulative, u).clamp(max=len(self.cumulative) - 1)
        seq = self.sequence[frame]
        return seq, frame - self.start[seq]

    def interpolate(self, seq: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, W) fractional frame positions in sequences `seq` (B,), clamped to each sequence -> (B, W, J, 3)."""
        last = (self.length[seq] - 1)[:, None].to(positions.dtype)
        positions = torch.minimum(positions.clamp(min=0.0), last)
        lo = positions.floor()
        w = (positions - lo)[..., None, None].to(self.poses.dtype)
        lo = lo.long()
        hi = torch.minimum(lo + 1, last.long())
        base = self.start[seq][:, None]
        return self.poses[base + lo] * (1.0 - w) + self.poses[base + hi] * w


class BatchedViews:
    """Windows of `window` frames (target at `target_index`) seen as `view` says, a whole batch per call:
    dict(keypoints2d (B, T, J, 2) normalised screen, mask (B, T, J) bool True = masked, pose3d (B, T, J, 3)
    root-relative camera-frame metres), as `LiftingWindows` items stacked."""

    def __init__(self, bank: MotionBank, window: int, target_index: int, view: ViewOptions, fps: float,
                 augment: bool = True) -> None:
        if window < 1 or not 0 <= target_index < window:
            raise ValueError(f"BatchedViews: need window >= 1 and 0 <= target_index < window, got {window}, "
                             f"{target_index}")
        if view.run != 1:  # runs of targets sharing a camera are evaluation's (windows.py), not drawn here
            raise ValueError(f"BatchedViews: ViewOptions.run must be 1 (every window its own camera), got {view.run}; "
                             "runs of consecutive targets are the per-window datasets' (mpm_model.data.windows)")
        self.bank, self.window, self.target_index, self.view = bank, window, target_index, view
        self.fps, self.augment = float(fps), augment

    def _step(self, draws: TorchDraws) -> torch.Tensor:
        """(B,) mocap frames per presented frame."""
        if self.view.present_fps:
            return torch.full((draws.batch,), self.fps / self.view.present_fps, device=draws.device)
        if self.view.rate_range and self.augment:
            return self.fps / draws.uniform(*self.view.rate_range)
        return torch.ones(draws.batch, device=draws.device)

    def _cameras(self, draws: TorchDraws, frames: torch.Tensor, target_pose: torch.Tensor) -> CameraBatch:
        """Per window, the first of CAMERA_TRIES draws (each robot or H36M-like, aimed at the target's root,
        backed off until all `frames` (B, T, J, 3) are in front) that sees MIN_VISIBLE_TARGET joints of
        `target_pose` (B, J, 3); the last draw when none does."""
        batch, tries = draws.batch, CAMERA_TRIES
        many = TorchDraws(draws.generator, batch * tries)
        root = target_pose[:, ROOT_JOINT].repeat_interleave(tries, 0)  # (B·K, 3)
        robot = many.random() < self.view.robot_share
        offset = torch.cat([many.uniform(-0.3, 0.3, (2,)), torch.zeros_like(root[:, :1])], dim=-1)
        cams = h36m_cameras(many, root + offset).where(~robot, robot_cameras(many, root))
        cams = keep_in_front_batch(cams, frames.reshape(batch, -1, 3).repeat_interleave(tries, 0))
        uv = cams.project(cams.to_camera(target_pose.repeat_interleave(tries, 0)))  # (B·K, J, 2)
        inside = ((uv >= 0) & (uv < cams.size[:, None])).all(dim=-1).sum(dim=-1) >= MIN_VISIBLE_TARGET
        ok = inside.reshape(batch, tries)
        first = torch.where(ok.any(dim=1), ok.float().argmax(dim=1), torch.full((batch,), tries - 1, device=ok.device))
        pick = torch.arange(batch, device=first.device) * tries + first
        return CameraBatch(cams.focal[pick], cams.size[pick], cams.rotation[pick], cams.translation[pick])

    def camera_poses(self, draws: TorchDraws) -> tuple[torch.Tensor, CameraBatch]:
        """((B, T, J, 3) camera-frame poses (bone-scaled and flipped in training), their cameras)."""
        seq, anchor = self.bank.draw_anchors(draws)
        offsets = torch.arange(self.window, device=draws.device) - self.target_index
        positions = anchor[:, None].to(torch.float32) + offsets[None] * self._step(draws)[:, None]  # (B, T)
        poses = self.bank.interpolate(seq, positions)
        target_pose = self.bank.poses[self.bank.start[seq] + anchor]  # (B, J, 3)
        cams = self._cameras(draws, poses, target_pose)
        if self.augment and self.view.bone_scaling:
            poses = scale_bones_batch(poses, bone_scale_draws(draws).to(poses.dtype)[:, None])
        cam_poses = cams.to_camera(poses)
        if self.augment and self.view.flip:
            flipped = (draws.random() < 0.5)[:, None, None, None]
            cam_poses = torch.where(flipped, flip_pose(cam_poses), cam_poses)  # principal point is centred
        return cam_poses, cams

    def pose3d(self, draws: TorchDraws) -> torch.Tensor:
        """(B, T, J, 3) root-relative camera-frame windows (the 3D branch of pretraining)."""
        cam_poses, _ = self.camera_poses(draws)
        return cam_poses - cam_poses[:, :, ROOT_JOINT:ROOT_JOINT + 1]

    def _detections(self, draws: TorchDraws, cam_poses: torch.Tensor, cams: CameraBatch
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixels (B, T, J, 2), confidence (B, T, J)): the H36M projection or, for `coco_share` of the windows,
        COCO-17 points through the node's mapping; detector errors when the view has a detector."""
        uv = cams.project(cam_poses)
        confidence = torch.ones(uv.shape[:-1], dtype=uv.dtype, device=uv.device)
        coco = draws.random() < self.view.coco_share
        detector = self.view.detector
        for chosen, layout in ((~coco, "h36m"), (coco, "coco")):
            index = chosen.nonzero()[:, 0]
            if not len(index) or (layout == "h36m" and detector is None):
                continue
            part = uv[index] if layout == "h36m" else cams.project(coco17_points(cam_poses))[index]
            part_conf = confidence[index]
            if detector is not None:
                part, part_conf = detector.detect(part, TorchDraws(draws.generator, len(index), uv.dtype),
                                                  H36M_LR_PAIRS if layout == "h36m" else COCO_LR_PAIRS)
            if layout == "coco":
                part, part_conf = coco_to_h36m_batch(part, part_conf)
            uv[index], confidence[index] = part, part_conf
        return uv, confidence

    def _occlusion(self, draws: TorchDraws, uv: torch.Tensor) -> torch.Tensor:
        """(B, T, J) random occlusion (per-window ratio) and occlusion that lasts the window."""
        batch = draws.batch
        ratio = torch.full((batch,), self.view.occlusion, device=uv.device)
        if self.augment and self.view.occlusion_max > 0:
            extra = torch.where(draws.random() < 0.5, draws.uniform(0.0, self.view.occlusion_max),
                                torch.zeros_like(ratio))
            ratio = torch.maximum(ratio, extra)
        mask = torch.zeros(uv.shape[:-1], dtype=torch.bool, device=uv.device)
        if bool((ratio > 0).any()):
            mask |= occlusion_masks(draws, self.window, NUM_JOINTS, ratio)
        if self.view.lasting:
            kind = torch.full((batch,), LASTING_KINDS.index(self.view.lasting), device=uv.device)
        elif self.augment and self.view.lasting_share > 0:
            chosen = draws.random() < self.view.lasting_share
            kind = torch.where(chosen, draws.integers(len(LASTING_KINDS)), torch.full((batch,), -1, device=uv.device))
        else:
            return mask
        return mask | lasting_masks(draws, uv, kind)

    def __call__(self, draws: TorchDraws) -> dict[str, torch.Tensor]:
        cam_poses, cams = self.camera_poses(draws)
        uv, confidence = self._detections(draws, cam_poses, cams)
        size = cams.size[:, None, None]  # (B, 1, 1, 2)
        mask = ((uv < 0) | (uv >= size)).any(dim=-1)
        if self.view.detector is not None and self.view.detector.min_confidence > 0:
            mask |= confidence < self.view.detector.min_confidence
        mask |= self._occlusion(draws, uv)
        width = size[..., :1]
        keypoints = uv / width * 2.0 - torch.cat([torch.ones_like(width), size[..., 1:] / width], dim=-1)
        keypoints = keypoints.masked_fill(mask[..., None], 0.0)
        return {"keypoints2d": keypoints.float(), "mask": mask,
                "pose3d": (cam_poses - cam_poses[:, :, ROOT_JOINT:ROOT_JOINT + 1]).float()}
