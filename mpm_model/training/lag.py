"""The lifter's lag as a training signal (issue 26): a causal lifter unsure of its newest frame hedges towards the
past, and under MPJPE that hedge is an error along the motion, e ≈ −δ·v (e = prediction − truth at the target
frame, v = truth[ti] − truth[ti − 1]). The batch's least-squares δ̂ = −Σ e·v / Σ v·v is its lag in frames
(+1: the prediction is the previous frame, "one frame late"); `lag_weight · δ̂²` added to the loss asks for no lag
while MPJPE does the rest. `lag_weight` 0 is the recipe without it (the loss is left untouched)."""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mpm_model.tunable import check, tunable

MIN_MOTION = 1e-8  # Σ v·v (m², whole batch) below this: a still batch has no lag to measure, δ̂ = 0


@dataclasses.dataclass(frozen=True)
class LagLoss:
    """The lag term of the lifter's training loss (a training setting: not in ModelConfig, not in checkpoints'
    configs; a campaign run's `RunSpec.lag_weight`)."""

    lag_weight: float = tunable(0.0, "weight of the batch lag δ̂² (frames²) added to the lifter's MPJPE loss (m); "
                                     "0 = the plain MPJPE recipe", 0.0, 100.0)

    def __post_init__(self) -> None:
        check(self)

    def loss(self, model: nn.Module, keypoints2d: torch.Tensor, mask: torch.Tensor, pose3d: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the model's loss plus the lag term, the batch lag δ̂ (frames, detached)) for one batch of windows:
        keypoints2d (B, T, J, 2), mask (B, T, J), pose3d (B, T, J, 3) root-relative."""
        seq3d, target3d = model(keypoints2d, mask)  # (B, T, J, 3), (B, 1, J, 3)
        loss = model.loss_from_outputs(seq3d, target3d, pose3d)
        lag = batch_lag(target3d[:, 0], pose3d, model.cfg.target_index)
        if self.lag_weight > 0:
            loss = loss + self.lag_weight * lag.square()
        return loss, lag.detach()


def batch_lag(pred: torch.Tensor, pose3d: torch.Tensor, target_index: int) -> torch.Tensor:
    """δ̂ (frames, a 0-d tensor with gradients to `pred`): the shift along the motion that best explains the error
    of pred (B, J, 3) against pose3d (B, T, J, 3) at `target_index`; 0 for a batch without motion there."""
    if target_index < 1:
        raise ValueError(f"the lag needs the frame before the target: target_index {target_index} < 1")
    truth = pose3d[:, target_index].float()  # (B, J, 3)
    motion = truth - pose3d[:, target_index - 1].float()  # (B, J, 3)
    error = pred.float() - truth  # (B, J, 3)
    power = motion.square().sum()
    if float(power) < MIN_MOTION:
        return error.sum() * 0.0  # keeps the graph (and the dtype) of a real δ̂
    return -(error * motion).sum() / power


class LagMeter:
    """Mean δ̂ over the training batches since the last reading (the campaign's history, per checkpoint)."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def add(self, lag: torch.Tensor) -> None:
        self.total += float(lag)
        self.count += 1

    def read(self) -> float | None:
        """The mean since the last read (None when no batch came), then start over."""
        mean = self.total / self.count if self.count else None
        self.total, self.count = 0.0, 0
        return mean
