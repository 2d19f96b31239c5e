"""Evaluate a checkpoint on mocap windows and print MPJPE, P-MPJPE, N-MPJPE, velocity error, PCK@150, AUC,
overall and per source.

Tasks: lift (lifter, clean 2D unless --detector), lift_occluded (lifter, --occlusion of the 2D joint-frames
masked), complete (pretrain model, --occlusion of the 3D joints masked per frame, every frame
reconstructed; errors reported on the masked joints and on all joints).
Lifter metrics are those of the frame the model reports (what the node publishes); the velocity error
compares consecutive reported frames inside runs of --run targets that share one camera.
Conditions: --camera h36m|robot, --coco (2D built from COCO-17 points the way the node maps them),
--detector (detector-like 2D errors), --present-fps (camera rate other than the model's).
Example: python -m mpm_model.training.evaluate --checkpoint mpm_t27_causal --data test_slice.npz --camera robot
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from mpm_model.checkpoint import CheckpointError, load_checkpoint
from mpm_model.data.occlusion import LASTING_KINDS
from mpm_model.masking import random_occlusion_mask

TASK_KIND = {"lift": "lifter", "lift_occluded": "lifter", "complete": "pretrain"}


@dataclass(frozen=True)
class EvalOptions:
    """One evaluation condition (see the module docstring)."""

    task: str = "lift"
    occlusion: float = 0.0
    camera: str = "h36m"
    coco: bool = False
    detector: bool = False
    present_fps: float | None = None
    lasting: str | None = None
    split: str = "all"
    val_fraction: float = 0.15
    seed: int = 0
    stride: int = 4
    run: int = 4
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.task not in TASK_KIND:
            raise ValueError(f"task must be one of {sorted(TASK_KIND)}, got {self.task!r}")
        if not 0.0 <= self.occlusion <= 1.0:
            raise ValueError(f"occlusion must be in [0, 1], got {self.occlusion}")
        if self.camera not in ("h36m", "robot"):
            raise ValueError(f"camera must be h36m or robot, got {self.camera!r}")
        if self.split not in ("all", "train", "val"):
            raise ValueError(f"split must be all, train or val, got {self.split!r}")
        if self.lasting is not None and self.lasting not in LASTING_KINDS:
            raise ValueError(f"lasting must be one of {LASTING_KINDS}, got {self.lasting!r}")
        if self.stride < 1 or self.run < 1:
            raise ValueError(f"stride and run must be >= 1, got {self.stride}, {self.run}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = EvalOptions()
    parser.add_argument("--checkpoint", required=True, help="checkpoint path or shipped weights name")
    parser.add_argument("--data", required=True, help="mocap npz (shared format)")
    parser.add_argument("--task", choices=sorted(TASK_KIND), default=d.task)
    parser.add_argument("--occlusion", type=float, default=0.3, help="masked fraction (lift_occluded/complete)")
    parser.add_argument("--camera", choices=("h36m", "robot"), default=d.camera)
    parser.add_argument("--coco", action="store_true", help="2D through COCO-17 and the node's mapping")
    parser.add_argument("--detector", action="store_true", help="detector-like 2D errors (else exact 2D)")
    parser.add_argument("--present-fps", type=float, default=None, help="camera rate (default: the model's)")
    parser.add_argument("--lasting", choices=LASTING_KINDS, default=None,
                        help="occlusion that lasts every window: these joints hidden, or 'border': the image bottom "
                             "cuts the lower body")
    parser.add_argument("--causal", action="store_true", help="require a causal (streaming) checkpoint")
    parser.add_argument("--split", choices=("all", "train", "val"), default=d.split,
                        help="subject split of --data (the training split for the same seed and fraction)")
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--stride", type=int, default=d.stride, help="frames between runs")
    parser.add_argument("--run", type=int, default=d.run, help="consecutive targets per run (one camera)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json-out", default=None, help="write the report here as JSON")
    return parser


def select_sequences(data: str, split: str, val_fraction: float, seed: int) -> list:
    from mpm_model.data.mocap import load_mocap, split_by_subject

    sequences = load_mocap(data)
    if split != "all":
        train, val = split_by_subject(sequences, val_fraction=val_fraction, seed=seed)
        sequences = train if split == "train" else val
    if not sequences:
        raise ValueError(f"no sequences in split {split!r} of {data}")
    return sequences


def _dataset(sequences: list, cfg, opts: EvalOptions):
    from mpm_model.data.detector import DetectorModel
    from mpm_model.data.windows import LiftingWindows, Pose3DWindows, ViewOptions

    view = ViewOptions(robot_share=1.0 if opts.camera == "robot" else 0.0, coco_share=1.0 if opts.coco else 0.0,
                       detector=DetectorModel() if opts.detector else None,
                       occlusion=opts.occlusion if opts.task == "lift_occluded" else 0.0,
                       present_fps=opts.present_fps, run=opts.run, lasting=opts.lasting)
    common = dict(window=cfg.window, stride=opts.stride, cameras_per_seq=1, seed=opts.seed, augment=False,
                  target_index=cfg.target_index, fps=cfg.fps, view=view)
    return Pose3DWindows(sequences, **common) if opts.task == "complete" else LiftingWindows(sequences, **common)


@torch.no_grad()
def predict(model: torch.nn.Module, cfg, dataset, opts: EvalOptions, device: torch.device) -> dict[str, np.ndarray]:
    """Lifter: reported frames pred/gt (N, J, 3). Complete: all frames (N*T, J, 3) and their masks."""
    generator = torch.Generator().manual_seed(opts.seed)
    pred, gt, masks = [], [], []
    loader = DataLoader(dataset, batch_size=opts.batch_size, shuffle=False)
    for batch in tqdm(loader, desc=f"evaluate {opts.task}", leave=False, dynamic_ncols=True):
        pose3d = batch["pose3d"].to(device)  # (B, T, J, 3)
        if opts.task == "complete":
            b, t, j, _ = pose3d.shape
            mask = random_occlusion_mask(b, t, j, opts.occlusion, generator).to(device)
            pred.append(model.complete(pose3d, mask).flatten(0, 1).cpu().numpy())
            gt.append(pose3d.flatten(0, 1).cpu().numpy())
            masks.append(mask.flatten(0, 1).cpu().numpy())
        else:
            _, target = model(batch["keypoints2d"].to(device), batch["mask"].to(device))
            pred.append(target[:, 0].cpu().numpy())
            gt.append(pose3d[:, cfg.target_index].cpu().numpy())
    if not pred:
        raise ValueError("no evaluation windows: sequences shorter than the window?")
    out = {"pred": np.concatenate(pred), "gt": np.concatenate(gt)}
    if masks:
        out["mask"] = np.concatenate(masks)
    return out


def compute_metrics(pred: np.ndarray, gt: np.ndarray, runs: np.ndarray | None) -> dict[str, float]:
    """Frame metrics of (N, J, 3) poses; velocity error over consecutive frames of each run id in `runs`."""
    from mpm_model import metrics

    result = {
        "mpjpe_mm": 1000 * metrics.mpjpe(pred, gt),
        "p_mpjpe_mm": 1000 * metrics.p_mpjpe(pred, gt),
        "n_mpjpe_mm": 1000 * metrics.n_mpjpe(pred, gt),
        "pck150": metrics.pck(pred, gt, threshold=0.15),
        "auc": metrics.auc(pred, gt),
        "frames": int(len(pred)),
    }
    if runs is not None:
        same = runs[1:] == runs[:-1]  # consecutive items of one run
        if same.any():
            vel_pred, vel_gt = np.diff(pred, axis=0)[same], np.diff(gt, axis=0)[same]
            result["velocity_error_mm"] = 1000 * float(np.linalg.norm(vel_pred - vel_gt, axis=-1).mean())
    return {k: float(v) if k != "frames" else v for k, v in result.items()}


def evaluate(model: torch.nn.Module, cfg, sequences: list, opts: EvalOptions,
             device: torch.device | str = "cpu") -> dict[str, Any]:
    """Metrics overall and per source for one condition -> {"metrics": ..., "per_source": {...}, "windows": n}."""
    device = torch.device(device)
    dataset = _dataset(sequences, cfg, opts)
    out = predict(model, cfg, dataset, opts, device)
    sources = dataset.item_sources()
    runs = dataset.items[:, 0] * 10**7 + dataset.items[:, 2]  # (sequence, anchor) identifies a run
    if opts.task == "complete":
        t = cfg.window
        sources, runs = np.repeat(sources, t), None
        masked = out["mask"]

        def metrics_of(select: np.ndarray) -> dict[str, float]:
            result = compute_metrics(out["pred"][select], out["gt"][select], None)
            errors = np.linalg.norm(out["pred"][select] - out["gt"][select], axis=-1)  # (n, J)
            if masked[select].any():
                result["masked_mpjpe_mm"] = 1000 * float(errors[masked[select]].mean())
            return result
    else:
        def metrics_of(select: np.ndarray) -> dict[str, float]:
            return compute_metrics(out["pred"][select], out["gt"][select], runs[select])
    every = np.ones(len(sources), dtype=bool)
    return {"metrics": metrics_of(every), "windows": len(dataset),
            "per_source": {str(s): metrics_of(sources == s) for s in sorted(set(sources.tolist()))}}


def format_table(results: dict[str, float]) -> str:
    rows = [("MPJPE (mm)", "mpjpe_mm"), ("P-MPJPE (mm)", "p_mpjpe_mm"), ("N-MPJPE (mm)", "n_mpjpe_mm"),
            ("velocity error (mm)", "velocity_error_mm"), ("PCK@150", "pck150"), ("AUC", "auc"),
            ("masked-joint MPJPE (mm)", "masked_mpjpe_mm")]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {results[key]:10.4f}" for name, key in rows if key in results)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    try:
        opts = EvalOptions(task=args.task, occlusion=args.occlusion if args.task != "lift" else 0.0,
                           camera=args.camera, coco=args.coco, detector=args.detector, present_fps=args.present_fps,
                           lasting=args.lasting,
                           split=args.split, val_fraction=args.val_fraction, seed=args.seed, stride=args.stride,
                           run=args.run, batch_size=args.batch_size)
        model, cfg, meta = load_checkpoint(args.checkpoint, kind=TASK_KIND[args.task])
        sequences = select_sequences(args.data, opts.split, opts.val_fraction, opts.seed)
    except (OSError, ValueError, CheckpointError) as exc:
        raise SystemExit(f"evaluate --task {args.task}: {exc}") from exc
    if args.causal and not cfg.causal:
        raise SystemExit(f"--causal given but {args.checkpoint} is a centred (non-causal) model")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    model.to(device).eval()
    result = evaluate(model, cfg, sequences, opts, device)
    report = {"checkpoint": str(args.checkpoint), "data": str(args.data), **opts.__dict__,
              "causal": cfg.causal, "target_index": cfg.target_index, "window": cfg.window, "arch": cfg.arch,
              "data_hash_trained_on": meta.get("data_hash"), **result}
    condition = f"{opts.camera} cameras" + (", COCO-mapped 2D" if opts.coco else "") + (
        ", detector errors" if opts.detector else "")
    print(f"{args.task} on {args.data} ({opts.split}, {result['windows']} windows, {condition}, "
          f"{'causal' if cfg.causal else 'centred'} T={cfg.window} {cfg.arch})")
    print(format_table(result["metrics"]))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
