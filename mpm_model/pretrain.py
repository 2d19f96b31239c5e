"""MPM pretraining: masked 2D pose modeling + masked 3D pose modeling with one shared encoder.

2D windows (virtual-camera projections) and 3D windows are drawn independently (unpaired), as in MPM.
Example: python -m mpm_model.pretrain --data mocap.npz --out out/pretrain --epochs 20
"""
from __future__ import annotations

import argparse
import logging
from typing import Iterator

import torch
from torch.utils.data import DataLoader

from .model import MPMPretrainModel
from .training import (add_common_args, config_from_args, fit, fps_kwargs, load_split, pick_device,
                       seed_everything)


class PairedLoaders:
    """Iterate two loaders in lock-step (2D batch, 3D batch); stops at the shorter one."""

    def __init__(self, first: DataLoader, second: DataLoader) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return min(len(self.first), len(self.second))

    def __iter__(self) -> Iterator[tuple[dict, dict]]:
        return zip(self.first, self.second)

    def set_epoch(self, epoch: int) -> None:
        self.first.dataset.set_epoch(epoch)
        self.second.dataset.set_epoch(epoch)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--spatial-mask-joints", type=int, default=5, help="joints masked per frame")
    parser.add_argument("--temporal-mask-ratio", type=float, default=0.6, help="fraction of frames dropped")
    parser.add_argument("--noise-px", type=float, default=2.0, help="2D keypoint noise (pixels) in training")
    return parser


def pretrain_loaders(args: argparse.Namespace, window: int) -> tuple[PairedLoaders, PairedLoaders, str]:
    from .data.windows import Pose2DWindows, Pose3DWindows

    train_seqs, val_seqs, data_hash = load_split(args)
    loaders = []
    for seqs, augment, seed, stride in ((train_seqs, True, args.seed, args.stride),
                                        (val_seqs, False, args.seed + 1, max(args.stride, window // 3))):
        common = dict(window=window, stride=stride, cameras_per_seq=args.cameras, seed=seed,
                      augment=augment, unpaired=True, **fps_kwargs(args))
        ds2d = Pose2DWindows(seqs, noise_px=args.noise_px if augment else 0.0, **common)
        ds3d = Pose3DWindows(seqs, **common)
        kwargs = dict(batch_size=args.batch_size, num_workers=args.num_workers, shuffle=augment)
        loaders.append(PairedLoaders(DataLoader(ds2d, drop_last=augment and len(ds2d) > args.batch_size, **kwargs),
                                     DataLoader(ds3d, drop_last=augment and len(ds3d) > args.batch_size, **kwargs)))
    return loaders[0], loaders[1], data_hash


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    seed_everything(args.seed)
    cfg = config_from_args(args).replace(spatial_mask_joints=args.spatial_mask_joints,
                                         temporal_mask_ratio=args.temporal_mask_ratio)
    device = pick_device(args.device)
    model = MPMPretrainModel(cfg).to(device)
    print(f"pretraining: masked ratio {cfg.masked_ratio:.1%} "
          f"({cfg.spatial_mask_joints}/{cfg.num_joints} joints, {cfg.temporal_masked_frames}/{cfg.window} frames)")
    train_loader, val_loader, data_hash = pretrain_loaders(args, cfg.window)

    def step(m: MPMPretrainModel, batch: tuple[dict, dict]) -> torch.Tensor:
        batch2d, batch3d = batch
        return m(batch2d["keypoints2d"].to(device), batch3d["pose3d"].to(device), batch2d["mask"].to(device)).loss

    history = fit(model, cfg, "pretrain", train_loader, val_loader, step, args, data_hash)
    if history:
        print(f"done: {len(history)} epochs, last val loss {history[-1]['val_loss']:.4f}, checkpoints in {args.out}")
    return history


if __name__ == "__main__":
    main()
