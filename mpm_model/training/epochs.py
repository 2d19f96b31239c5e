"""The CLIs' side of the one training loop (`steps.train_loop`, which the campaign's runs take too): the epochs of a
per-window loader as one stream of batches, validation, and `fit` with last.pt / best.pt every epoch and --resume.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mpm_model.checkpoint import load_checkpoint, save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.training.distributed import Distributed
from mpm_model.training.loop import StepFn, TrainOptions
from mpm_model.training.steps import OptimizerSteps, Pace, train_loop

log = logging.getLogger(__name__)


def _capped(batches: Iterable, max_batches: int | None) -> Iterable:
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            return
        yield batch


def _batches_per_epoch(batches: Iterable, max_batches: int | None) -> int:
    count = len(batches) if hasattr(batches, "__len__") else max_batches or 1
    return min(count, max_batches) if max_batches is not None else count


def mean_loss(model: nn.Module, batches: Iterable, step: StepFn, desc: str, max_batches: int | None = None,
              show: bool = True) -> float:
    """Mean loss over one pass in eval mode without gradients (validation); a non-finite loss is an error."""
    model.eval()
    total, count = 0.0, 0
    bar = tqdm(_capped(batches, max_batches), desc=desc, total=_batches_per_epoch(batches, max_batches),
               leave=False, dynamic_ncols=True, disable=not show or None)
    with torch.no_grad():
        for batch in bar:
            loss = step(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: non-finite loss {float(loss)}")
            total += float(loss)
            count += 1
            bar.set_postfix(loss=f"{total / count:.4f}")
    if count == 0:
        raise ValueError(f"{desc}: the loader produced no batches (too few frames for the window?)")
    return total / count


def set_epoch(batches: Iterable, epoch: int) -> None:
    """New sampler and augmentation draw per epoch (loaders, their samplers and PairedLoaders)."""
    if hasattr(batches, "set_epoch"):
        batches.set_epoch(epoch)
        return
    for part in (getattr(batches, "sampler", None), getattr(batches, "dataset", None)):
        if part is not None and hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


class Epochs:
    """The training batches of epochs `start` .. `epochs - 1` as one stream (the CLIs' data source for
    `steps.train_loop`): a new sampler and augmentation draw per epoch, at most `max_batches` each, a progress bar;
    `ended` says the batch just given was its epoch's last (the CLIs' checkpoint cadence)."""

    def __init__(self, batches: Iterable, start: int, epochs: int, max_batches: int | None, show: bool) -> None:
        self.batches, self.start, self.epochs, self.max_batches, self.show = batches, start, epochs, max_batches, show
        self.per_epoch = _batches_per_epoch(batches, max_batches)
        self.epoch, self.taken, self.bar = start, 0, tqdm(disable=True)

    @property
    def ended(self) -> bool:
        return self.taken == self.per_epoch

    def label(self) -> str:
        return f"epoch {self.epoch + 1}/{self.epochs}"

    def __iter__(self) -> Iterator[Any]:
        for epoch in range(self.start, self.epochs):
            self.epoch, self.taken = epoch, 0
            set_epoch(self.batches, epoch)
            if self.per_epoch == 0:
                raise ValueError(f"{self.label()} train: the loader produced no batches (too few frames for the "
                                 "window?)")
            self.bar = tqdm(desc=f"{self.label()} train", total=self.per_epoch, leave=False, dynamic_ncols=True,
                            disable=not self.show or None)
            for batch in _capped(self.batches, self.max_batches):
                self.taken += 1
                self.bar.update(1)
                if self.ended:
                    self.bar.close()
                yield batch
            if not self.ended:  # the checkpoint cadence counts on the loader's length
                raise ValueError(f"{self.label()}: the loader gave {self.taken} of its {self.per_epoch} batches")


def fit(model: nn.Module, cfg: ModelConfig, kind: str, train_loader: Iterable, val_loaders: dict[str, Iterable],
        step: StepFn, opts: TrainOptions, data_hash: str, extra: dict[str, Any] | None = None,
        dist: Distributed | None = None) -> list[dict[str, Any]]:
    """Train for opts.epochs (or until the epoch that passes opts.max_minutes) in `steps.train_loop`, saving
    OUT/last.pt every epoch and OUT/best.pt on the best validation loss (mean over the per-source validation
    loaders). Returns the history (also in OUT/history.json). Under torchrun only rank 0 writes; every rank computes
    the same mean losses."""
    dist = dist or Distributed(torch.device("cpu"))
    out = Path(opts.out)
    optim = OptimizerSteps(model, opts.lr, opts.weight_decay, f"{kind} {out}")
    start_epoch, history, best = 0, [], math.inf
    base = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    if opts.resume:
        resumed, _, meta = load_checkpoint(opts.resume, expected_config=cfg, kind=kind)
        base.load_state_dict(resumed.state_dict())
        start_epoch = int(meta["epoch"] or 0) + 1
        saved = meta["extra"] or {}
        history = list(saved.get("history", []))
        optim.resume(meta["optimizer"], int(saved.get("step", 0)), float(saved.get("minutes", 0.0)))
        best = min((h["val_loss"] for h in history), default=math.inf)
        log.info("resumed from %s at epoch %d (step %d)", opts.resume, start_epoch, optim.step)
    train_args = opts.record()
    epochs = Epochs(train_loader, start_epoch, opts.epochs, opts.max_batches, dist.main)
    total_steps = epochs.per_epoch * opts.epochs
    over = False

    def end_epoch(pace: Pace) -> None:
        """Validation, history, last.pt / best.pt, and whether the time budget is spent (on any rank)."""
        nonlocal best, over
        label, epoch = epochs.label(), epochs.epoch
        train_loss = dist.mean(pace.mean_loss)
        val = {name: dist.mean(mean_loss(model, batches, step, f"{label} val {name}", opts.max_batches, dist.main))
               for name, batches in val_loaders.items()}
        val_loss = float(np.mean(list(val.values())))
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_per_source": val,
                        "step": optim.step, "minutes": optim.minutes})
        if dist.main:
            tqdm.write(f"{label}: step {optim.step}  train {train_loss:.4f}  val {val_loss:.4f}  "
                       + "  ".join(f"{k} {v:.4f}" for k, v in val.items()) + f"  ({optim.minutes:.1f} min)")
            meta_extra = {**(extra or {}), "history": history, "step": optim.step, "minutes": optim.minutes}
            save_checkpoint(out / "last.pt", base, cfg, kind, train_args, data_hash, optim.optimizer, epoch,
                            meta_extra)
            if val_loss < best:
                save_checkpoint(out / "best.pt", base, cfg, kind, train_args, data_hash, None, epoch, meta_extra)
            (out / "history.json").write_text(json.dumps(history, indent=2))
        best = min(best, val_loss)
        spent = opts.max_minutes is not None and optim.minutes >= opts.max_minutes
        over = dist.mean(float(spent)) > 0  # any rank out of time stops them all (no rank left waiting)
        if over and dist.main:
            tqdm.write(f"time budget of {opts.max_minutes} min reached after epoch {epoch + 1}")

    def show_loss(pace: Pace) -> None:
        epochs.bar.set_postfix(loss=f"{pace.mean_loss:.4f}")

    train_loop(optim, iter(epochs), lambda batch: step(model, batch), lambda: total_steps, opts.max_minutes,
               lambda: over, lambda: epochs.ended, end_epoch, show_loss)
    if dist.world > 1:  # ranks must agree: DDP averages every gradient
        checksum = sum(float(p.detach().double().abs().sum()) for p in base.parameters())
        print(f"rank-checksum {dist.rank} {checksum:.6f}", flush=True)
    if history and dist.main:
        print(f"done: {len(history)} epochs, last val loss {history[-1]['val_loss']:.4f}, checkpoints in {out}")
    return history
