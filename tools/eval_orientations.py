"""How far the joint orientations of the lifted skeletons are from the same construction on the ground truth
(docs/ORIENTATIONS.md), on the captured test slice through StreamingLifter (no ROS).

The test slice's sequences (resampled to 30 fps, longest first, at most 900 frames each) are seen by an H36M-like
camera (make_bag's scene rule) with 2 px detector jitter — tools/eval_smoothing.py's setting; the shipped lifter
runs frame by frame. Per joint group: mean, median and 90th percentile of the angle between the predicted and
the true joint frame (degrees), and the same for the bone direction alone (the z axis, no twist), with the
root-relative MPJPE beside it.

    .venv/bin/python tools/eval_orientations.py [--data ../shared/data/mocap_h36m17_test_slice.npz] [--sequences 36]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from eval_smoothing import lift_sequence  # tools/ is the script's directory

from mpm_model.data.mocap import load_mocap, resample
from mpm_model.deploy.backends import create_backend
from mpm_model.orientations import JOINT_GROUPS, joint_frames, orientation_errors
from mpm_model.skeleton import H36M_JOINTS
from mpm_model.streaming import StreamingLifter

ROOT = Path(__file__).resolve().parents[1]


def bone_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(..., 17) degrees between the z axes (the bone directions) of the two skeletons' joint frames."""
    cos = np.sum(joint_frames(pred)[..., :, 2] * joint_frames(truth)[..., :, 2], axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/mocap_h36m17_test_slice.npz")
    parser.add_argument("--sequences", type=int, default=36)
    parser.add_argument("--checkpoint", default="mpm_t27_causal")
    parser.add_argument("--per-joint", action="store_true", help="also print one row per joint")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"eval_orientations: {args.data} not found (the captured test slice, ../shared/data)")
    sequences = sorted((resample(s, 30.0) for s in load_mocap(args.data)), key=len, reverse=True)[:args.sequences]
    backend = create_backend("onnxruntime", checkpoint=args.checkpoint, device="cpu")
    rng = np.random.default_rng(0)
    pairs = [lift_sequence(StreamingLifter(backend), seq.poses3d[:900], rng) for seq in sequences]
    truth = np.concatenate([t for t, _ in pairs])  # (F, 17, 3) root-relative camera frame
    pred = np.concatenate([p for _, p in pairs])
    frame_deg = np.degrees(orientation_errors(pred, truth))  # (F, 17)
    bone_deg = bone_errors(pred, truth)
    mpjpe_mm = 1e3 * np.linalg.norm(pred - truth, axis=-1).mean()
    print(f"{len(sequences)} test-slice sequences, {len(truth)} frames at 30 fps, 2 px jitter, {args.checkpoint}: "
          f"MPJPE {mpjpe_mm:.1f} mm")
    print("| joints | frame error mean / median / p90 (deg) | bone direction error mean / median / p90 (deg) |\n"
          "|---|---:|---:|")
    rows = [(name, list(joints)) for name, joints in JOINT_GROUPS.items()] + [("all 17", list(range(17)))]
    if args.per_joint:
        rows += [(H36M_JOINTS[j], [j]) for j in range(17)]
    for name, joints in rows:
        f, b = frame_deg[:, joints], bone_deg[:, joints]
        print(f"| {name} | {f.mean():.1f} / {np.median(f):.1f} / {np.percentile(f, 90):.1f} | "
              f"{b.mean():.1f} / {np.median(b):.1f} / {np.percentile(b, 90):.1f} |")


if __name__ == "__main__":
    main()
