"""The one training loop of every training path (the campaign's runs and the pretrain / finetune CLIs) and its
optimizer step: AdamW, the time-aware LR schedule, a short re-warm after a resume without optimizer state, the
non-finite check and gradient clipping, with the step count and clock that both paths save in their checkpoints.
A caller of `train_loop` brings only its batches, its stop rule and its checkpoint writer.

The learning rate follows a warm-up, then a cosine over progress = max(step / total steps, minutes / budget), so a
run stopped by the clock has annealed as fully as one that ran all its steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

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


@dataclass
class Pace:
    """What a `train_loop` call has done so far: its steps, the last loss, the mean loss since the last checkpoint
    (the CLIs' epoch loss) and where the time went (drawing batches vs the model: the campaign's throughput)."""

    steps: int = 0
    last_loss: float = math.nan
    data_s: float = 0.0
    model_s: float = 0.0
    loss_sum: float = 0.0  # since the last checkpoint
    loss_count: int = 0

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.loss_count, 1)


def train_loop(steps: OptimizerSteps, batches: Iterator[Any], loss_fn: Callable[[Any], torch.Tensor],
               total_steps: Callable[[], int], budget_minutes: float | None, stop: Callable[[], bool],
               checkpoint_due: Callable[[], bool], on_checkpoint: Callable[[Pace], None],
               on_step: Callable[[Pace], None] | None = None, sync: Callable[[], None] | None = None) -> Pace:
    """Until `stop()` or the end of `batches`: take a batch (without gradients), its loss, one optimizer step with
    the LR of `total_steps()` and `budget_minutes`; after a step, `on_checkpoint` when `checkpoint_due()`. A
    checkpoint may evaluate: training goes on in train mode. `sync` waits for the device, so the times are true."""
    pace = Pace()
    steps.model.train()
    while not stop():
        t0 = time.monotonic()
        with torch.no_grad():
            batch = next(batches, _END)
        if batch is _END:
            break
        if sync:
            sync()
        t1 = time.monotonic()
        loss = loss_fn(batch)
        steps.train(loss, total_steps(), budget_minutes)
        if sync:
            sync()
        pace.steps, pace.last_loss = pace.steps + 1, float(loss.detach())
        pace.data_s, pace.model_s = pace.data_s + t1 - t0, pace.model_s + time.monotonic() - t1
        pace.loss_sum, pace.loss_count = pace.loss_sum + pace.last_loss, pace.loss_count + 1
        if on_step:
            on_step(pace)
        if checkpoint_due():
            on_checkpoint(pace)
            pace.loss_sum, pace.loss_count = 0.0, 0
            steps.model.train()
    return pace


_END = object()  # the end of `batches`
