"""The one optimizer step of every training path (the campaign's runs and the pretrain / finetune CLIs): AdamW, the
time-aware LR schedule, a short re-warm after a resume without optimizer state, the non-finite check and gradient
clipping, with the step count and clock that both paths save in their checkpoints.

The learning rate follows a warm-up, then a cosine over progress = max(step / total steps, minutes / budget), so a
run stopped by the clock has annealed as fully as one that ran all its steps.
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

WARMUP_FRACTION = 0.03
MIN_LR_FRACTION = 0.02
CLIP_NORM = 1.0
WEIGHT_DECAY = 1e-4  # AdamW's, the campaign's and the CLIs' default (`--weight-decay`)
REWARM_STEPS = 50  # linear LR ramp after a resume without optimizer state (Adam's moments restart)


def lr_factor(step: int, total_steps: int, minutes: float, max_minutes: float | None) -> float:
    """Warm-up, then cosine to MIN_LR_FRACTION over progress = max(step / total, minutes / budget)."""
    progress = step / max(total_steps, 1)
    if max_minutes:
        progress = max(progress, minutes / max_minutes)
    progress = min(progress, 1.0)
    warm = min(1.0, (step + 1) / max(1.0, WARMUP_FRACTION * total_steps))
    return warm * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))


class OptimizerSteps:
    """AdamW on `model` at peak `lr`, its step count and its clock (minutes before this process + since start)."""

    def __init__(self, model: nn.Module, lr: float, weight_decay: float, label: str) -> None:
        self.model, self.lr, self.label = model, lr, label
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.step, self.minutes_before, self.started = 0, 0.0, time.monotonic()
        self.resumed_step, self.rewarm = 0, 0

    @property
    def minutes(self) -> float:
        return self.minutes_before + (time.monotonic() - self.started) / 60

    def resume(self, optimizer_state: dict[str, Any] | None, step: int, minutes: float) -> None:
        """Continue at `step` with `minutes` spent; without the optimizer's state, re-warm over REWARM_STEPS."""
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.step = self.resumed_step = int(step)
        self.minutes_before, self.started = float(minutes), time.monotonic()
        self.rewarm = 0 if optimizer_state is not None else REWARM_STEPS

    def train(self, loss: torch.Tensor, total_steps: int, budget_minutes: float | None) -> None:
        """One update from `loss` with the LR of this step's progress; a non-finite loss stops the run."""
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.label}: non-finite loss {float(loss.detach())} at step {self.step}")
        factor = lr_factor(self.step, total_steps, self.minutes, budget_minutes)
        if self.rewarm:
            factor *= min(1.0, (self.step - self.resumed_step + 1) / self.rewarm)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * factor
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), CLIP_NORM)
        self.optimizer.step()
        self.step += 1
