"""MPM pretraining: masked 2D pose modeling + masked 3D pose modeling with one shared encoder.

2D windows (virtual-camera projections, detector-like errors) and 3D windows are drawn independently
(unpaired, from disjoint halves of the training sequences), as in MPM. Runs under torchrun (DDP).
Example: python -m mpm_model.training.pretrain --data mocap.npz --out out/pretrain --epochs 20
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Iterator

import torch

from mpm_model.masking import PretrainObjective
from mpm_model.model import MPMPretrainModel
from mpm_model.training.distributed import Distributed
from mpm_model.training.epochs import fit, set_epoch
from mpm_model.training.loop import TrainOptions, add_common_args, load_split, loader, start_run


class PairedLoaders:
    """Iterate two loaders in lock-step (2D batch, 3D batch); stops at the shorter one."""

    def __init__(self, first, second) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return min(len(self.first), len(self.second))

    def __iter__(self) -> Iterator[tuple[dict, dict]]:
        return zip(self.first, self.second)

    def set_epoch(self, epoch: int) -> None:
        for part in (self.first, self.second):
            set_epoch(part, epoch)


@dataclasses.dataclass(frozen=True)
class PretrainOptions(TrainOptions):
    """TrainOptions plus the pretraining objective (masks, loss weights; defaults: PretrainObjective's)."""

    objective: PretrainObjective = PretrainObjective()
    fixed_masks: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.objective.check(self.model.num_joints, self.model.window)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.training.pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    d = PretrainOptions.defaults()
    parser.add_argument("--spatial-mask-joints", type=int, default=d["spatial_mask_joints"],
                        help="joints masked per frame")
    parser.add_argument("--temporal-mask-ratio", type=float, default=d["temporal_mask_ratio"],
                        help="fraction of frames dropped")
    parser.add_argument("--fixed-masks", action="store_true",
                        help="always the nominal mask counts (default: half the batches draw smaller ones)")
    return parser


def pretrain_loaders(opts: PretrainOptions, window: int, fps: float,
                     dist: Distributed) -> tuple[PairedLoaders, dict[str, PairedLoaders], str]:
    from mpm_model.data.windows import Pose2DWindows, Pose3DWindows, ViewOptions

    train_seqs, val_seqs, data_hash = load_split(opts)
    common = dict(window=window, fps=fps, unpaired=True)
    view = opts.view()
    train = PairedLoaders(
        loader(Pose2DWindows(train_seqs, stride=opts.stride, cameras_per_seq=opts.cameras, seed=opts.seed,
                             augment=True, view=view, **common), opts, True, dist),
        loader(Pose3DWindows(train_seqs, stride=opts.stride, cameras_per_seq=opts.cameras, seed=opts.seed,
                             augment=True, view=view, **common), opts, True, dist))
    val_common = dict(stride=max(opts.stride, window // 3, 8), cameras_per_seq=1, seed=opts.seed + 1,
                      augment=False, view=ViewOptions(robot_share=0.5), **common)
    val = {"all": PairedLoaders(loader(Pose2DWindows(val_seqs, **val_common), opts, False, dist),
                                loader(Pose3DWindows(val_seqs, **val_common), opts, False, dist))}
    return train, val, data_hash


def main(argv: list[str] | None = None) -> list[dict]:
    opts, cfg, device, dist = start_run(build_parser(), PretrainOptions, argv)
    with dist:  # the process group closes on every way out
        goal = opts.objective
        model = MPMPretrainModel(cfg, dropout=opts.dropout, objective=goal).to(device)
        if dist.main:
            print(f"pretraining: masked ratio {goal.masked_ratio(cfg.num_joints):.1%} ({goal.spatial_mask_joints}/"
                  f"{cfg.num_joints} joints, {goal.masked_frames(cfg.window)}/{cfg.window} frames)"
                  + ("" if opts.fixed_masks else "; half the batches draw smaller masks"))
        train_loader, val_loaders, data_hash = pretrain_loaders(opts, cfg.window, cfg.fps, dist)
        wrapped = dist.wrap(model)

        def step(m: torch.nn.Module, batch: tuple[dict, dict]) -> torch.Tensor:
            batch2d, batch3d = batch
            vary = m.training and not opts.fixed_masks
            return m(batch2d["keypoints2d"].to(device), batch3d["pose3d"].to(device), batch2d["mask"].to(device),
                     vary_masks=vary).loss

        return fit(wrapped, cfg, "pretrain", train_loader, val_loaders, step, opts, data_hash, dist=dist)


if __name__ == "__main__":
    main()
