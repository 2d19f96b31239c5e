"""Evaluate a checkpoint on mocap windows and print MPJPE, P-MPJPE, N-MPJPE, velocity error, PCK@150, AUC.

Tasks: lift (lifter, clean 2D), lift_occluded (lifter, --occlusion of the 2D joints masked),
complete (pretrain model, --occlusion of the 3D joints masked, every frame reconstructed).
Example: python -m mpm_model.evaluate --checkpoint out/lifter/best.pt --data mocap.npz --json-out eval.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import CheckpointError, load_model
from .config import ModelConfig
from .masking import random_occlusion_mask

TASK_KIND = {"lift": "lifter", "lift_occluded": "lifter", "complete": "pretrain"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint path or shipped weights name")
    parser.add_argument("--data", required=True, help="mocap npz (shared format)")
    parser.add_argument("--task", choices=sorted(TASK_KIND), default="lift")
    parser.add_argument("--occlusion", type=float, default=0.3, help="masked joint fraction (occluded/complete)")
    parser.add_argument("--causal", action="store_true", help="require a causal (streaming) checkpoint")
    parser.add_argument("--split", choices=("all", "train", "val"), default="all",
                        help="which subject split of --data to use (same split as training with the same seed)")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stride", type=int, default=1, help="frames between evaluated windows")
    parser.add_argument("--cameras", type=int, default=4, help="virtual cameras per sequence")
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json-out", default=None, help="write the metrics here as JSON")
    return parser


def _sequences(args: argparse.Namespace) -> list:
    from .data.mocap import load_mocap, split_by_subject

    sequences = load_mocap(args.data)
    if args.split != "all":
        train, val = split_by_subject(sequences, val_fraction=args.val_fraction, seed=args.seed)
        sequences = train if args.split == "train" else val
    if not sequences:
        raise SystemExit(f"no sequences in split {args.split!r} of {args.data}")
    return sequences


@torch.no_grad()
def predict(model: torch.nn.Module, cfg: ModelConfig, task: str, loader: DataLoader, occlusion: float,
            seed: int, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (frame predictions (N, J, 3), frame ground truth, sequence predictions (M, T, J, 3), sequence gt)."""
    generator = torch.Generator().manual_seed(seed)
    frames_pred, frames_gt, seqs_pred, seqs_gt = [], [], [], []
    for batch in tqdm(loader, desc=f"evaluate {task}", leave=False, dynamic_ncols=True):
        pose3d = batch["pose3d"].to(device)  # (B, T, J, 3)
        if task == "complete":
            b, t, j, _ = pose3d.shape
            mask = random_occlusion_mask(b, t, j, occlusion, generator).to(device)
            seq = model.complete(pose3d, mask)
            frame, frame_gt = seq.flatten(0, 1), pose3d.flatten(0, 1)
        else:
            seq, target = model(batch["keypoints2d"].to(device), batch["mask"].to(device))
            frame, frame_gt = target[:, 0], pose3d[:, cfg.target_index]
        frames_pred.append(frame.cpu().numpy())
        frames_gt.append(frame_gt.cpu().numpy())
        seqs_pred.append(seq.cpu().numpy())
        seqs_gt.append(pose3d.cpu().numpy())
    if not frames_pred:
        raise SystemExit("no evaluation windows: sequences shorter than the window?")
    return tuple(np.concatenate(x) for x in (frames_pred, frames_gt, seqs_pred, seqs_gt))


def compute_metrics(frame_pred: np.ndarray, frame_gt: np.ndarray, seq_pred: np.ndarray,
                    seq_gt: np.ndarray) -> dict[str, float]:
    from . import metrics

    return {
        "mpjpe_mm": 1000 * metrics.mpjpe(frame_pred, frame_gt),
        "p_mpjpe_mm": 1000 * metrics.p_mpjpe(frame_pred, frame_gt),
        "n_mpjpe_mm": 1000 * metrics.n_mpjpe(frame_pred, frame_gt),
        "velocity_error_mm": 1000 * metrics.velocity_error(seq_pred, seq_gt),
        "pck150": metrics.pck(frame_pred, frame_gt, threshold=0.15),
        "auc": metrics.auc(frame_pred, frame_gt),
    }


def format_table(results: dict[str, float]) -> str:
    rows = [("MPJPE (mm)", "mpjpe_mm"), ("P-MPJPE (mm)", "p_mpjpe_mm"), ("N-MPJPE (mm)", "n_mpjpe_mm"),
            ("velocity error (mm)", "velocity_error_mm"), ("PCK@150", "pck150"), ("AUC", "auc")]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {results[key]:10.4f}" for name, key in rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.occlusion <= 1.0:
        raise SystemExit(f"--occlusion must be in [0, 1], got {args.occlusion}")
    try:
        model, cfg, meta = load_model(args.checkpoint, kind=TASK_KIND[args.task])
    except (OSError, CheckpointError) as exc:
        raise SystemExit(f"evaluate --task {args.task}: {exc}") from exc
    if args.causal and not cfg.causal:
        raise SystemExit(f"--causal given but {args.checkpoint} is a centred (non-causal) model")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    model.to(device).eval()
    sequences = _sequences(args)
    from .data.windows import LiftingWindows, Pose3DWindows

    common = dict(window=cfg.window, stride=args.stride, cameras_per_seq=args.cameras, seed=args.seed,
                  augment=False, target_index=cfg.target_index, **({} if args.fps is None else {"fps": args.fps}))
    if args.task == "complete":
        dataset = Pose3DWindows(sequences, **common)
    else:
        occlusion = args.occlusion if args.task == "lift_occluded" else 0.0
        dataset = LiftingWindows(sequences, noise_px=0.0, occlusion=occlusion, **common)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    results: dict[str, Any] = compute_metrics(*predict(model, cfg, args.task, loader, args.occlusion, args.seed,
                                                       device))
    results = {k: float(v) for k, v in results.items()}
    report = {"checkpoint": str(args.checkpoint), "data": str(args.data), "task": args.task,
              "occlusion": args.occlusion if args.task != "lift" else 0.0, "split": args.split,
              "windows": len(dataset), "causal": cfg.causal, "target_index": cfg.target_index,
              "data_hash_trained_on": meta.get("data_hash"), "metrics": results}
    print(f"{args.task} on {args.data} ({args.split}, {len(dataset)} windows, "
          f"{'causal' if cfg.causal else 'centred'} T={cfg.window})")
    print(format_table(results))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
