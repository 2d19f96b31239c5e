"""Shared pieces of the pretrain / finetune CLIs: arguments, config, data split, and the epoch loop with
per-epoch checkpoints, --resume and a wall-clock budget."""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ModelConfig

log = logging.getLogger(__name__)
StepFn = Callable[[nn.Module, Any], torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by pretrain and finetune."""
    parser.add_argument("--data", required=True, help="mocap npz (shared format, see mpm_model.data.mocap)")
    parser.add_argument("--out", required=True, help="output folder for last.pt, best.pt and history.json")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after the epoch that passes this (the cosine LR schedule spans --epochs regardless)")
    parser.add_argument("--resume", default=None, help="checkpoint (e.g. OUT/last.pt) to continue from")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="subjects held out (split by subject)")
    parser.add_argument("--val-subjects", default=None, help="comma list of subjects held out (overrides fraction)")
    parser.add_argument("--stride", type=int, default=1, help="frames between training windows")
    parser.add_argument("--cameras", type=int, default=4, help="virtual cameras per sequence")
    parser.add_argument("--max-batches", type=int, default=None, help="cap batches per epoch (quick runs)")
    parser.add_argument("--fps", type=float, default=None, help="resample sequences to this rate (default: data module's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--num-workers", type=int, default=0)
    model = parser.add_argument_group("model (ModelConfig fields)")
    model.add_argument("--window", type=int, default=27)
    model.add_argument("--causal", action="store_true", help="streaming model: frame t sees frames <= t+lookahead")
    model.add_argument("--lookahead", type=int, default=0)
    defaults = ModelConfig()
    for name in ("d_model", "depth", "heads", "ffn_dim", "encoder_hidden", "decoder_depth"):
        model.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    model.add_argument("--dropout", type=float, default=defaults.dropout)


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        window=args.window, causal=args.causal, lookahead=args.lookahead, d_model=args.d_model, depth=args.depth,
        heads=args.heads, ffn_dim=args.ffn_dim, encoder_hidden=args.encoder_hidden,
        decoder_depth=args.decoder_depth, dropout=args.dropout)


def fps_kwargs(args: argparse.Namespace) -> dict[str, float]:
    """{"fps": x} when --fps was given, else {} so the window datasets use their default rate."""
    return {} if args.fps is None else {"fps": args.fps}


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """New augmentation draw per epoch (window datasets and PairedLoaders expose set_epoch)."""
    target = loader if hasattr(loader, "set_epoch") else getattr(loader, "dataset", None)
    if target is not None and hasattr(target, "set_epoch"):
        target.set_epoch(epoch)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_split(args: argparse.Namespace) -> tuple[list, list, str]:
    """(train sequences, val sequences, dataset hash) of --data, split by subject."""
    from .data.mocap import dataset_hash, load_mocap, split_by_subject

    sequences = load_mocap(args.data)
    if args.val_subjects:
        held_out = {s.strip() for s in args.val_subjects.split(",") if s.strip()}
        known = {str(s.subject) for s in sequences}
        if not held_out <= known:
            raise ValueError(f"--val-subjects {sorted(held_out - known)} not in data; subjects: {sorted(known)}")
        train = [s for s in sequences if str(s.subject) not in held_out]
        val = [s for s in sequences if str(s.subject) in held_out]
    else:
        train, val = split_by_subject(sequences, val_fraction=args.val_fraction, seed=args.seed)
    if not train or not val:
        raise ValueError(f"split of {args.data} left {len(train)} train / {len(val)} val sequences")
    return train, val, dataset_hash(args.data)


def json_safe(args: argparse.Namespace) -> dict[str, Any]:
    """argparse values as plain JSON types (checkpoints load with weights_only=True)."""
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for k, v in vars(args).items()}


def _capped(loader: Iterable, max_batches: int | None) -> Iterable:
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            return
        yield batch


def run_epoch(model: nn.Module, loader: Iterable, step: StepFn, optimizer: torch.optim.Optimizer | None,
              desc: str, max_batches: int | None = None) -> float:
    """Mean loss over one pass; trains when an optimizer is given, else evaluates without gradients."""
    training = optimizer is not None
    model.train(training)
    total, count = 0.0, 0
    total_batches = len(loader) if hasattr(loader, "__len__") else None
    if total_batches is not None and max_batches is not None:
        total_batches = min(total_batches, max_batches)
    bar = tqdm(_capped(loader, max_batches), desc=desc, total=total_batches, leave=False, dynamic_ncols=True)
    with torch.set_grad_enabled(training):
        for batch in bar:
            loss = step(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: non-finite loss {float(loss)}")
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            total += float(loss.detach())
            count += 1
            bar.set_postfix(loss=f"{total / count:.4f}")
    if count == 0:
        raise ValueError(f"{desc}: the loader produced no batches (too few frames for the window?)")
    return total / count


def fit(model: nn.Module, cfg: ModelConfig, kind: str, train_loader: Iterable, val_loader: Iterable,
        step: StepFn, args: argparse.Namespace, data_hash: str, extra: dict[str, Any] | None = None
        ) -> list[dict[str, float]]:
    """Train for args.epochs (or until args.max_minutes), saving OUT/last.pt every epoch and OUT/best.pt
    on the best validation loss. Returns the history (also written to OUT/history.json)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: 0.5 * (1 + math.cos(math.pi * min(e, args.epochs) / max(args.epochs, 1))))
    start_epoch, history, best = 0, [], math.inf
    if args.resume:
        resumed, _, meta = load_checkpoint(args.resume, expected_config=cfg, kind=kind)
        model.load_state_dict(resumed.state_dict())
        if meta["optimizer"] is not None:
            optimizer.load_state_dict(meta["optimizer"])
        start_epoch = int(meta["epoch"] or 0) + 1
        history = list((meta["extra"] or {}).get("history", []))
        best = min((h["val_loss"] for h in history), default=math.inf)
        scheduler.last_epoch = start_epoch - 1
        log.info("resumed from %s at epoch %d", args.resume, start_epoch)
    started = time.monotonic()
    train_args = json_safe(args)
    for epoch in range(start_epoch, args.epochs):
        _set_epoch(train_loader, epoch)
        train_loss = run_epoch(model, train_loader, step, optimizer, f"epoch {epoch + 1}/{args.epochs} train",
                               args.max_batches)
        val_loss = run_epoch(model, val_loader, step, None, f"epoch {epoch + 1}/{args.epochs} val", args.max_batches)
        scheduler.step()
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                        "minutes": (time.monotonic() - started) / 60})
        tqdm.write(f"epoch {epoch + 1}: train {train_loss:.4f}  val {val_loss:.4f}")
        meta_extra = {**(extra or {}), "history": history}
        save_checkpoint(out / "last.pt", model, cfg, kind, train_args, data_hash, optimizer, epoch, meta_extra)
        if val_loss < best:
            best = val_loss
            save_checkpoint(out / "best.pt", model, cfg, kind, train_args, data_hash, None, epoch, meta_extra)
        (out / "history.json").write_text(json.dumps(history, indent=2))
        if args.max_minutes is not None and (time.monotonic() - started) / 60 >= args.max_minutes:
            tqdm.write(f"time budget of {args.max_minutes} min reached after epoch {epoch + 1}")
            break
    return history
