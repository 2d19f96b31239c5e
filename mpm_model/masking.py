"""Vectorised MAE-style mask draws with fixed counts per sample (static batch shapes, exact ratios).

Convention everywhere: True = masked.
"""
from __future__ import annotations

import torch


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
