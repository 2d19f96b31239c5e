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
from pathlib import Path
from typing import Any

import torch

from mpm_model.checkpoint import CheckpointError, load_checkpoint
from mpm_model.data.occlusion import LASTING_KINDS
from mpm_model.evaluation import TASK_KIND, EvalOptions, evaluate, select_sequences


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
    parser.add_argument("--mirror", action="store_true", help="lift each window also mirrored and average the two "
                        "(the node's mirror_max_tracks, on by default there)")
    parser.add_argument("--gap-fill", type=int, default=d.gap_fill, help="bridge hidden joints' gaps of at most this "
                        "many frames before lifting (the node's gap_fill_frames, 8 by default there)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json-out", default=None, help="write the report here as JSON")
    return parser


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
                           run=args.run, batch_size=args.batch_size, mirror=args.mirror,
                           gap_fill=args.gap_fill)
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
