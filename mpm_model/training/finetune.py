"""Fine-tune a lifter (2D -> 3D) on mocap windows: MPM (from a pretrain checkpoint, or from scratch for the
no-pretraining ablation) or the VideoPose3D-style TCN baseline (--arch tcn). Runs under torchrun (DDP).

Example: python -m mpm_model.training.finetune --data mocap.npz --pretrained out/pretrain/best.pt --out out/lifter
         torchrun --nproc_per_node=2 -m mpm_model.training.finetune --data mocap.npz --out out/lifter
"""
from __future__ import annotations

import argparse
import dataclasses

import torch

from mpm_model.checkpoint import CheckpointError, build_model, load_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.training.distributed import Distributed
from mpm_model.training.epochs import fit
from mpm_model.training.loop import TrainOptions, add_common_args, load_split, loader, start_run

# Fields that fix the encoder's weight shapes: a pretrain checkpoint must agree on them.
ENCODER_FIELDS = ("num_joints", "encoder_hidden", "d_model", "ffn_dim", "heads", "depth")


@dataclasses.dataclass(frozen=True)
class FinetuneOptions(TrainOptions):
    """TrainOptions plus the pretrain checkpoint (path or shipped name) whose encoder initialises the lifter."""

    pretrained: str | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.training.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--pretrained", default=FinetuneOptions.defaults()["pretrained"],
                        help="pretrain checkpoint whose encoder initialises the lifter (weights of another window "
                             "length transfer except the positional embeddings)")
    return parser


def lifting_loaders(opts: TrainOptions, cfg: ModelConfig, dist: Distributed):
    """(train loader, {source: val loader}, data hash). Validation: held-out subjects, clean 2D, H36M-like
    and robot cameras, fixed per seed."""
    from mpm_model.data.windows import LiftingWindows, ViewOptions

    train_seqs, val_seqs, data_hash = load_split(opts)
    common = dict(window=cfg.window, target_index=cfg.target_index, fps=cfg.fps)
    train = LiftingWindows(train_seqs, stride=opts.stride, cameras_per_seq=opts.cameras, seed=opts.seed,
                           augment=True, view=opts.view(), **common)
    val_view = ViewOptions(robot_share=0.5)
    val = {}
    for source in sorted({s.source for s in val_seqs}):
        seqs = [s for s in val_seqs if s.source == source]
        ds = LiftingWindows(seqs, stride=max(opts.stride, cfg.window // 3, 8), cameras_per_seq=1,
                            seed=opts.seed + 1, augment=False, view=val_view, **common)
        val[source or "val"] = loader(ds, opts, False, dist)
    return loader(train, opts, True, dist), val, data_hash


def main(argv: list[str] | None = None) -> list[dict]:
    opts, cfg, device, dist = start_run(build_parser(), FinetuneOptions, argv)
    with dist:  # the process group closes on every way out
        model = build_model("lifter", cfg, dropout=opts.dropout)
        extra = {"pretrained": None}
        if opts.pretrained:
            if cfg.arch != "mpm":
                raise SystemExit("--pretrained needs --arch mpm (the TCN baseline has no pretraining)")
            try:
                pretrained, pre_cfg, _ = load_checkpoint(opts.pretrained, kind="pretrain")
            except (OSError, CheckpointError) as exc:
                raise SystemExit(f"--pretrained: {exc}") from exc
            differ = {k: v for k, v in pre_cfg.diff(cfg).items() if k in ENCODER_FIELDS}
            if differ:
                raise SystemExit(f"--pretrained {opts.pretrained} has a different encoder shape: {differ}")
            report = model.load_pretrained_encoder(pretrained.state_dict())
            if dist.main:
                print(f"pretrained encoder: copied {len(report['copied'])} tensors, "
                      f"not in checkpoint {report['not_in_checkpoint']}, shape mismatch {report['shape_mismatch']}")
            extra = {"pretrained": str(opts.pretrained), "transfer": report}
        model.to(device)
        train_loader, val_loaders, data_hash = lifting_loaders(opts, cfg, dist)
        wrapped = dist.wrap(model)

        def step(m: torch.nn.Module, batch: dict) -> torch.Tensor:
            inner = m.module if isinstance(m, torch.nn.parallel.DistributedDataParallel) else m
            if m is wrapped and m is not inner:  # DDP: forward through the wrapper so gradients sync
                seq3d, target3d = m(batch["keypoints2d"].to(device), batch["mask"].to(device))
                return inner.loss_from_outputs(seq3d, target3d, batch["pose3d"].to(device))
            return inner.loss(batch["keypoints2d"].to(device), batch["mask"].to(device), batch["pose3d"].to(device))

        return fit(wrapped, cfg, "lifter", train_loader, val_loaders, step, opts, data_hash, extra, dist)


if __name__ == "__main__":
    main()
