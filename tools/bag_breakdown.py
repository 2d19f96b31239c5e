"""Where on a bag does one lifter lose against another? Each output of the library (mpm_ros.bags.offline_run: the
node's StreamingLifter and, unless --no-refiner, the checkpoint's pose refiner) is scored at its own stamp (MPJPE,
root-relative, mm) and the errors are split per track (with its mean true root depth), per band of true root depth,
per camera axis (mean |error| in x, y, z; z is depth) and per joint; one column per checkpoint (MODEL_CARD round 7:
why a lag-loss state lost on `make demo`).

    .venv/bin/python tools/bag_breakdown.py --bag out/demo/input_bag --checkpoint mpm_t27_causal \
        --checkpoint mpm_t27_causal_la1 [--no-refiner] [--depths 6,7,8]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mpm_model.skeleton import H36M_JOINTS
from mpm_ros.bags.run_data import RunData

AXES = ("x", "y", "z")


def breakdown(run: RunData, depths: tuple[float, ...] = (6.0, 7.0, 8.0)) -> dict[str, tuple[float, int]]:
    """{row name: (mean error mm, outputs)} over the outputs that have a truth at their stamp; depth bands are cut at
    `depths` (m, the true root's camera z)."""
    rows = [(p, run.ground_truth[(p.stamp_ns, p.track_id)]) for p in run.predictions
            if (p.stamp_ns, p.track_id) in run.ground_truth]
    if not rows:
        return {}
    pred = np.array([p.joints - p.joints[:1] for p, _ in rows])  # (N, J, 3) root-relative
    truth = np.array([g for _, g in rows])  # (N, J, 3) camera frame
    error = (pred - (truth - truth[:, :1])) * 1000.0  # (N, J, 3) mm
    joint_error = np.linalg.norm(error, axis=-1)  # (N, J)
    per_output = joint_error.mean(axis=1)  # (N,)
    track = np.array([p.track_id for p, _ in rows])  # (N,)
    depth = truth[:, 0, 2]  # (N,) true root depth, m

    def mean(values: np.ndarray, chosen: np.ndarray) -> tuple[float, int]:
        return float(values[chosen].mean()), int(chosen.sum())

    out = {"all": mean(per_output, np.ones(len(rows), bool))}
    for t in np.unique(track):
        out[f"track {t} ({depth[track == t].mean():.1f} m)"] = mean(per_output, track == t)
    edges = (-np.inf, *depths, np.inf)
    for lo, hi in zip(edges[:-1], edges[1:]):
        chosen = (depth >= lo) & (depth < hi)
        if chosen.any():
            out[f"root {lo:g}-{hi:g} m deep"] = mean(per_output, chosen)
    for a, axis in enumerate(AXES):
        out[f"axis {axis} (mean |error|)"] = mean(np.abs(error[..., a]).mean(axis=1), np.ones(len(rows), bool))
    for j, name in enumerate(H36M_JOINTS[1:], start=1):  # the root is 0 by construction
        out[name] = mean(joint_error[:, j], np.ones(len(rows), bool))
    return out


def table(columns: dict[str, dict[str, tuple[float, int]]]) -> str:
    """Markdown: one row per breakdown row (outputs counted from the first column), one column per checkpoint."""
    names = list(columns)
    keys = list(dict.fromkeys(k for c in columns.values() for k in c))
    lines = ["| row | outputs | " + " | ".join(names) + " |", "| --- | ---: |" + " ---: |" * len(names)]
    for key in keys:
        count = next((c[key][1] for c in columns.values() if key in c), 0)
        lines.append(f"| {key} | {count} | " + " | ".join(f"{c[key][0]:.1f}" if key in c else "-"
                                                         for c in columns.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, required=True, help="a make_bag bag (2D, camera_info, ground truth)")
    parser.add_argument("--checkpoint", action="append", required=True, help="shipped name or .pt path")
    parser.add_argument("--no-refiner", action="store_true", help="the lifter's own pose (pose_refiner false)")
    parser.add_argument("--depths", default="6,7,8", help="depth band edges, metres, comma-separated")
    args = parser.parse_args(argv)
    depths = tuple(float(d) for d in args.depths.split(","))
    from mpm_model.deploy.backends import create_backend
    from mpm_model.streaming import LifterOptions
    from mpm_model.streaming.temporal import TemporalOptions
    from mpm_ros.backend_setup import pose_refiner
    from mpm_ros.bags.offline_run import offline_run

    columns = {}
    for checkpoint in args.checkpoint:
        backend = create_backend("onnxruntime", checkpoint=checkpoint, device="cpu")
        refiner, why = (None, "off") if args.no_refiner else pose_refiner(checkpoint)
        print(f"{checkpoint}: pose refiner {'on' if refiner else why}", flush=True)
        options = LifterOptions(temporal=TemporalOptions(pose_refiner=refiner is not None))
        columns[checkpoint] = breakdown(offline_run(args.bag, backend, options, refiner), depths)
    print(f"{args.bag}: MPJPE mm at each output's own stamp\n" + table(columns))


if __name__ == "__main__":
    main()
