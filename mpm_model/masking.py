"""Vectorised MAE-style mask draws with fixed counts per sample (static batch shapes, exact ratios).

Convention everywhere: True = masked.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PretrainObjective:
    """What masked pose pretraining hides and how its 2D and 3D losses add up. A training setting: given to
    MPMPretrainModel when it is built and recorded in the checkpoint's train_args, never in ModelConfig."""

    spatial_mask_joints: int = 5  # joints masked per frame
    temporal_mask_ratio: float = 0.6  # fraction of the window's frames dropped from the encoder
    loss_weight_2d: float = 5.0
    loss_weight_3d: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.spatial_mask_joints, int) or self.spatial_mask_joints < 0:
            raise ValueError(f"spatial_mask_joints must be an int >= 0, got {self.spatial_mask_joints!r}")
        if not 0.0 <= self.temporal_mask_ratio < 1.0:
            raise ValueError(f"temporal_mask_ratio must be in [0, 1), got {self.temporal_mask_ratio}")
        if self.loss_weight_2d < 0 or self.loss_weight_3d < 0:
            raise ValueError(f"loss weights must be >= 0, got {self.loss_weight_2d}, {self.loss_weight_3d}")

    def check(self, num_joints: int, window: int) -> None:
        """Raise ValueError unless the masks fit a model of `num_joints` joints and `window` frames."""
        if self.spatial_mask_joints >= num_joints:
            raise ValueError(f"spatial_mask_joints must be in [0, {num_joints}), got {self.spatial_mask_joints}")
        if self.kept_frames(window) < 1:
            raise ValueError(f"temporal_mask_ratio={self.temporal_mask_ratio} must keep at least one of {window} "
                             "frames")

    def masked_frames(self, window: int) -> int:
        """Frames dropped per pretraining sample (a fixed count keeps batch shapes static)."""
        return round(self.temporal_mask_ratio * window)

    def kept_frames(self, window: int) -> int:
        return window - self.masked_frames(window)

    def masked_ratio(self, num_joints: int) -> float:
        """Nominal fraction of masked joint-frames: a joint is visible only if its frame is kept and it is unmasked."""
        return 1.0 - (1.0 - self.temporal_mask_ratio) * (num_joints - self.spatial_mask_joints) / num_joints


def _check_counts(name: str, count: int, total: int) -> None:
    if not 0 <= count <= total:
        raise ValueError(f"{name}={count} must be in [0, {total}]")


def random_joint_mask(
    batch: int, frames: int, joints: int, masked_joints: int,
    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Spatial mask (B, T, J): exactly `masked_joints` random joints masked in every frame."""
    _check_counts("masked_joints", masked_joints, joints)
    scores = torch.rand(batch, frames, joints, generator=generator, device=device)
    ranks = scores.argsort(dim=-1).argsort(dim=-1)  # (B, T, J) rank of each joint's score
    return ranks < masked_joints


def random_frame_drop(
    batch: int, frames: int, dropped_frames: int,
    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal mask: `dropped_frames` frames per sample dropped from the encoder.

    Returns (keep_index (B, T - dropped) sorted ascending, frame_mask (B, T) True = dropped).
    """
    _check_counts("dropped_frames", dropped_frames, frames - 1)
    scores = torch.rand(batch, frames, generator=generator, device=device)
    keep_index = scores.argsort(dim=-1)[:, dropped_frames:].sort(dim=-1).values  # (B, K)
    frame_mask = torch.ones(batch, frames, dtype=torch.bool, device=device)
    frame_mask.scatter_(1, keep_index, False)
    return keep_index, frame_mask


def tube_mask(
    batch: int, frames: int, joints: int, masked_joints: int, span: int,
    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Tube mask (B, T, J): the same `masked_joints` joints masked over one contiguous span of `span` frames.

    Models an occluder that hides a body part for a while (the completion task).
    """
    _check_counts("masked_joints", masked_joints, joints)
    _check_counts("span", span, frames)
    joint_scores = torch.rand(batch, joints, generator=generator, device=device)
    joint_sel = joint_scores.argsort(dim=-1).argsort(dim=-1) < masked_joints  # (B, J)
    start = torch.randint(0, frames - span + 1, (batch, 1), generator=generator, device=device)
    t = torch.arange(frames, device=device).unsqueeze(0)  # (1, T)
    frame_sel = (t >= start) & (t < start + span)  # (B, T)
    return frame_sel.unsqueeze(-1) & joint_sel.unsqueeze(1)


def random_occlusion_mask(
    batch: int, frames: int, joints: int, ratio: float,
    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Mask (B, T, J) with exactly round(ratio * J) random joints masked per frame (evaluation occlusion)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"occlusion ratio must be in [0, 1], got {ratio}")
    return random_joint_mask(batch, frames, joints, round(ratio * joints), generator, device)
