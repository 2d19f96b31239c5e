"""Fine-tune the MPM lifter (2D -> 3D) on mocap windows; without --pretrained it is the no-pretraining ablation.

Example: python -m mpm_model.finetune --data mocap.npz --pretrained out/pretrain/best.pt --out out/lifter
"""
from __future__ import annotations

import argparse
import logging

import torch
from torch.utils.data import DataLoader

from .checkpoint import CheckpointError, load_checkpoint
from .config import ModelConfig
from .model import MPMLifter
from .training import (add_common_args, config_from_args, fit, fps_kwargs, load_split, pick_device,
                       seed_everything)

# Fields that fix the encoder's weight shapes: a pretrain checkpoint must agree on them.
ENCODER_FIELDS = ("num_joints", "window", "encoder_hidden", "d_model", "ffn_dim", "heads", "depth")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--pretrained", default=None, help="pretrain checkpoint whose encoder initialises the lifter")
    parser.add_argument("--occlusion", type=float, default=0.1, help="synthetic joint occlusion rate in training")
    parser.add_argument("--noise-px", type=float, default=2.0, help="2D keypoint noise (pixels) in training")
    return parser


def lifting_loaders(args: argparse.Namespace, cfg: ModelConfig) -> tuple[DataLoader, DataLoader, str]:
    from .data.windows import LiftingWindows

    train_seqs, val_seqs, data_hash = load_split(args)
    common = dict(window=cfg.window, cameras_per_seq=args.cameras, target_index=cfg.target_index,
                  **fps_kwargs(args))
    train = LiftingWindows(train_seqs, stride=args.stride, seed=args.seed, augment=True,
                           noise_px=args.noise_px, occlusion=args.occlusion, **common)
    val = LiftingWindows(val_seqs, stride=max(args.stride, cfg.window // 3), seed=args.seed + 1, augment=False,
                         noise_px=0.0, occlusion=0.0, **common)
    kwargs = dict(batch_size=args.batch_size, num_workers=args.num_workers)
    return DataLoader(train, shuffle=True, drop_last=len(train) > args.batch_size, **kwargs), \
        DataLoader(val, shuffle=False, **kwargs), data_hash


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    seed_everything(args.seed)
    cfg = config_from_args(args)
    device = pick_device(args.device)
    model = MPMLifter(cfg)
    extra = {"pretrained": None}
    if args.pretrained:
        try:
            pretrained, pre_cfg, _ = load_checkpoint(args.pretrained, kind="pretrain")
        except (OSError, CheckpointError) as exc:
            raise SystemExit(f"--pretrained: {exc}") from exc
        differ = {k: v for k, v in pre_cfg.diff(cfg).items() if k in ENCODER_FIELDS}
        if differ:
            raise SystemExit(f"--pretrained {args.pretrained} has a different encoder shape: {differ}")
        report = model.load_pretrained_encoder(pretrained.state_dict())
        print(f"pretrained encoder: copied {len(report['copied'])} tensors, "
              f"not in checkpoint {report['not_in_checkpoint']}, shape mismatch {report['shape_mismatch']}")
        extra = {"pretrained": str(args.pretrained), "transfer": report}
    model.to(device)
    train_loader, val_loader, data_hash = lifting_loaders(args, cfg)

    def step(m: MPMLifter, batch: dict) -> torch.Tensor:
        return m.loss(batch["keypoints2d"].to(device), batch["mask"].to(device), batch["pose3d"].to(device))

    history = fit(model, cfg, "lifter", train_loader, val_loader, step, args, data_hash, extra)
    if history:
        print(f"done: {len(history)} epochs, last val loss {history[-1]['val_loss']:.4f}, checkpoints in {args.out}")
    return history


if __name__ == "__main__":
    main()
