"""Shared pieces of the pretrain / finetune CLIs: their options (TrainOptions, built from the arguments), config,
data split, source-balanced sampling and DistributedDataParallel set-up. Their training is `epochs.fit`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import random
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch
from torch import nn

from mpm_model.config import ARCHS, ModelConfig
from mpm_model.data.windows import ViewOptions, training_view
from mpm_model.training.distributed import Distributed
from mpm_model.training.steps import WEIGHT_DECAY

StepFn = Callable[[nn.Module, Any], torch.Tensor]
_RECIPE = training_view()  # the defaults of the data recipe live there, once
_T = TypeVar("_T", bound="TrainOptions")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _is_record(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Options shared by pretrain and finetune; main() builds it from argparse, whose defaults are these. A plain
    field is the CLI flag of the same name; a record field (`model`, a subclass's `objective`) is built from the
    flags named like the record's fields, so the architecture travels as one ModelConfig and is never copied."""

    data: str
    out: str
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = WEIGHT_DECAY
    seed: int = 0
    max_minutes: float | None = None
    resume: str | None = None
    val_fraction: float = 0.15
    val_subjects: str | None = None
    stride: int = 1
    cameras: int = 1
    max_batches: int | None = None
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None
    # data recipe (mpm_model.data.windows.training_view)
    robot_share: float = _RECIPE.robot_share
    coco_share: float = _RECIPE.coco_share
    occlusion_max: float = _RECIPE.occlusion_max
    rate_range: tuple[float, float] = _RECIPE.rate_range
    clean_2d: bool = False
    source_balance: float = 0.25
    model: ModelConfig = ModelConfig()  # the architecture: saved as the checkpoint's config, not in train_args
    dropout: float = 0.1  # training only: the models get it as a build argument, checkpoints do not carry it

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_range", tuple(float(v) for v in self.rate_range))
        if min(self.epochs, self.batch_size, self.stride, self.cameras) < 1:
            raise ValueError(f"epochs, batch size, stride and cameras must be >= 1, got {self.epochs}, "
                             f"{self.batch_size}, {self.stride}, {self.cameras}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Defaults by flag name (a record's fields flattened): the argparse defaults, so every default is written
        once, here or on the record's own class."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.default is dataclasses.MISSING:
                continue
            if _is_record(f.default):
                values.update({r.name: getattr(f.default, r.name) for r in dataclasses.fields(f.default)})
            else:
                values[f.name] = f.default
        return values

    @classmethod
    def from_args(cls: type[_T], args: argparse.Namespace) -> _T:
        """From a parser of add_common_args (plus the subclass's own flags); a record takes the flags its parser
        declares, its class defaults for the rest (a derived stride schedule follows --window)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if _is_record(f.default):
                record = type(f.default)
                values[f.name] = record(**{r.name: getattr(args, r.name) for r in dataclasses.fields(record)
                                           if hasattr(args, r.name)})
            else:
                values[f.name] = getattr(args, f.name)
        return cls(**values)

    def view(self) -> ViewOptions:
        """The ViewOptions of training windows."""
        view = training_view(robot_share=self.robot_share, coco_share=self.coco_share,
                             occlusion_max=self.occlusion_max, rate_range=self.rate_range)
        return dataclasses.replace(view, detector=None) if self.clean_2d else view

    def record(self) -> dict[str, Any]:
        """Plain JSON types for the checkpoint's train_args (checkpoints load with weights_only=True); the model
        is left out: the checkpoint saves it as its config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items() if k != "model"}


OptionsT = TypeVar("OptionsT", bound=TrainOptions)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by pretrain and finetune (the fields of TrainOptions)."""
    d = TrainOptions.defaults()
    parser.add_argument("--data", required=True, help="mocap npz (shared format, see mpm_model.data.mocap)")
    parser.add_argument("--out", required=True, help="output folder for last.pt, best.pt and history.json")
    parser.add_argument("--epochs", type=int, default=d["epochs"], help="passes (of --max-batches batches when given)")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], help="per process")
    parser.add_argument("--lr", type=float, default=d["lr"])
    parser.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    parser.add_argument("--seed", type=int, default=d["seed"])
    parser.add_argument("--max-minutes", type=float, default=d["max_minutes"],
                        help="stop after the epoch that passes this; the LR schedule anneals by then")
    parser.add_argument("--resume", default=d["resume"], help="checkpoint (e.g. OUT/last.pt) to continue from")
    parser.add_argument("--val-fraction", type=float, default=d["val_fraction"],
                        help="subjects held out per source (split by subject)")
    parser.add_argument("--val-subjects", default=d["val_subjects"],
                        help="comma list of subjects held out (overrides fraction)")
    parser.add_argument("--stride", type=int, default=d["stride"], help="frames between training windows")
    parser.add_argument("--cameras", type=int, default=d["cameras"], help="camera draws per window and epoch")
    parser.add_argument("--max-batches", type=int, default=d["max_batches"],
                        help="batches per epoch (and validation cap)")
    parser.add_argument("--device", default=d["device"], help="auto, cpu or cuda")
    parser.add_argument("--num-workers", type=int, default=d["num_workers"])
    parser.add_argument("--threads", type=int, default=d["threads"], help="torch intra-op threads (default: torch's)")
    data = parser.add_argument_group("data recipe (docs/MODEL_CARD.md)")
    data.add_argument("--robot-share", type=float, default=d["robot_share"], help="windows seen by robot cameras")
    data.add_argument("--coco-share", type=float, default=d["coco_share"],
                      help="windows whose 2D goes through COCO-17")
    data.add_argument("--occlusion-max", type=float, default=d["occlusion_max"],
                      help="extra occlusion drawn in half the windows")
    data.add_argument("--rate-range", type=float, nargs=2, default=d["rate_range"], metavar=("LOW", "HIGH"),
                      help="presented camera rate (Hz) drawn per window")
    data.add_argument("--clean-2d", action="store_true", help="no detector errors (exact projections)")
    data.add_argument("--source-balance", type=float, default=d["source_balance"],
                      help="each source's share of windows ∝ frames^this (1 = natural, 0 = equal)")
    model = parser.add_argument_group("model (ModelConfig: the architecture, saved in the checkpoint)")
    model.add_argument("--arch", choices=ARCHS, default=d["arch"])
    model.add_argument("--window", type=int, default=d["window"])
    model.add_argument("--causal", action="store_true", help="streaming model: frame t sees frames <= t+lookahead")
    model.add_argument("--lookahead", type=int, default=d["lookahead"])
    model.add_argument("--fps", type=float, default=d["fps"], help="model (camera) rate, Hz")
    for name in ("d_model", "depth", "heads", "ffn_dim", "encoder_hidden", "decoder_depth"):
        model.add_argument(f"--{name.replace('_', '-')}", type=int, default=d[name])
    parser.add_argument("--dropout", type=float, default=d["dropout"], help="training only (not saved in the model)")


class BalancedSampler(torch.utils.data.Sampler):
    """Per-epoch draw (with replacement) of len(weights) items by weight, sharded across ranks.

    Weights give each source a share ∝ its item count^balance, so small sources (HDM05, CMU: lying,
    squats, dance, climbing) are not drowned by the large one; `balance=1` is plain shuffling.
    """

    def __init__(self, sources: np.ndarray, balance: float, seed: int, rank: int = 0, world: int = 1) -> None:
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"source balance must be in [0, 1], got {balance}")
        names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
        share = counts.astype(np.float64) ** balance
        share /= share.sum()
        self.weights = share[inverse] / counts[inverse]
        self.shares = dict(zip(names.tolist(), share.tolist()))
        self.seed, self.rank, self.world, self.epoch = seed, rank, world, 0
        self.length = len(sources) // world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        drawn = rng.choice(len(self.weights), size=self.length * self.world, p=self.weights)
        return iter(drawn[self.rank::self.world].tolist())


def loader(dataset, opts: TrainOptions, train: bool, dist: Distributed) -> torch.utils.data.DataLoader:
    """Training loaders sample by source balance; validation loaders shard sequentially across ranks."""
    from torch.utils.data import DataLoader, Subset

    if train:
        sampler = BalancedSampler(dataset.item_sources(), opts.source_balance, opts.seed, dist.rank, dist.world)
        return DataLoader(dataset, batch_size=opts.batch_size, sampler=sampler, num_workers=opts.num_workers,
                          drop_last=len(sampler) > opts.batch_size)
    shard = Subset(dataset, range(dist.rank, len(dataset), dist.world)) if dist.world > 1 else dataset
    return DataLoader(shard, batch_size=opts.batch_size, shuffle=False, num_workers=opts.num_workers)


def start_run(parser: argparse.ArgumentParser, options: type[OptionsT], argv: list[str] | None
              ) -> tuple[OptionsT, ModelConfig, torch.device, Distributed]:
    """The common start of a training CLI: options from the command line (bad values → parser.error), logging,
    threads, seeds, the model config, the device and the (possibly single-process) distributed group."""
    try:
        opts = options.from_args(parser.parse_args(argv))
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    seed_everything(opts.seed)
    device = pick_device(opts.device)
    return opts, opts.model, device, Distributed(device)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_split(opts: TrainOptions) -> tuple[list, list, str]:
    """(train sequences, val sequences, dataset hash) of opts.data, split by subject (stratified by source)."""
    from mpm_model.data.mocap import dataset_hash, load_mocap, split_by_subject

    sequences = load_mocap(opts.data)
    if opts.val_subjects:
        held_out = {s.strip() for s in opts.val_subjects.split(",") if s.strip()}
        known = {str(s.subject) for s in sequences}
        if not held_out <= known:
            raise ValueError(f"--val-subjects {sorted(held_out - known)} not in data; subjects: {sorted(known)}")
        train = [s for s in sequences if str(s.subject) not in held_out]
        val = [s for s in sequences if str(s.subject) in held_out]
    else:
        train, val = split_by_subject(sequences, val_fraction=opts.val_fraction, seed=opts.seed)
    if not train or not val:
        raise ValueError(f"split of {opts.data} left {len(train)} train / {len(val)} val sequences")
    return train, val, dataset_hash(opts.data)
