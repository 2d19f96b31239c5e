"""Parameter and FLOP table of the MPM lifter and pretrain model for several windows.

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode for one sample (batch 1, eval mode), plus the
attention score/value products counted analytically (FlopCounterMode does not see CPU scaled_dot_product_attention);
1 multiply-accumulate = 2 FLOPs. Example: python -m mpm_model.deploy.model_stats --windows 27 81 243
"""
from __future__ import annotations

import argparse
import json

import torch
from torch.utils.flop_counter import FlopCounterMode

from mpm_model.config import ModelConfig
from mpm_model.layers import Attention
from mpm_model.model import MPMLifter, MPMPretrainModel


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _count(model: torch.nn.Module, *inputs, **kwargs) -> int:
    """Matmul/conv FLOPs from FlopCounterMode + 4·B·N²·d per attention call (QKᵀ and AV)."""
    attention_flops = 0

    def hook(_module: torch.nn.Module, args: tuple, _output: torch.Tensor) -> None:
        nonlocal attention_flops
        b, n, d = args[0].shape
        attention_flops += 4 * b * n * n * d

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, Attention)]
    try:
        with FlopCounterMode(display=False) as counter:
            model.eval()(*inputs, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return counter.get_total_flops() + attention_flops


@torch.no_grad()
def lifter_flops(model: MPMLifter) -> int:
    cfg = model.cfg
    keypoints = torch.zeros(1, cfg.window, cfg.num_joints, 2)
    mask = torch.zeros(1, cfg.window, cfg.num_joints, dtype=torch.bool)
    return _count(model, keypoints, mask)


@torch.no_grad()
def pretrain_flops(model: MPMPretrainModel) -> int:
    """One masked-2D plus one masked-3D reconstruction (a training step's forward)."""
    cfg = model.cfg
    pose2d = torch.zeros(1, cfg.window, cfg.num_joints, 2)
    pose3d = torch.zeros(1, cfg.window, cfg.num_joints, 3)
    return _count(model, pose2d, pose3d, None, generator=torch.Generator().manual_seed(0))


def model_table(windows: list[int], causal: bool) -> list[dict[str, float]]:
    rows = []
    for window in windows:
        cfg = ModelConfig(window=window, causal=causal)
        lifter, pretrain = MPMLifter(cfg), MPMPretrainModel(cfg)
        rows.append({"model": "lifter", "window": window, "params_M": count_params(lifter) / 1e6,
                     "gflops": lifter_flops(lifter) / 1e9})
        rows.append({"model": "pretrain", "window": window, "params_M": count_params(pretrain) / 1e6,
                     "gflops": pretrain_flops(pretrain) / 1e9})
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.model_stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, nargs="+", default=[27, 81, 243])
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = model_table(args.windows, args.causal)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'model':<9} {'T':>4} {'params (M)':>11} {'GFLOPs/sample':>14}")
        for row in rows:
            print(f"{row['model']:<9} {row['window']:>4} {row['params_M']:>11.3f} {row['gflops']:>14.4f}")
    return rows


if __name__ == "__main__":
    main()
