"""Where does the node's lag come from? The same 2D through the node and through the library, scored alike.

For each `--run` (a `python -m mpm_ros.harness.pipeline demo` output folder: input_bag + output_bag) it scores the
node's recording (mpm_ros.bags.report) and the input bag's 2D through StreamingLifter without ROS
(mpm_ros.bags.offline_run: default LifterOptions, the pose refiner of the checkpoint); each `--bag` only through the
library (e.g. a make_bag bag with `--noise 0 --occlusion 0 --dropout 0`: the lifter's own lag on exact 2D). It
prints MPJPE, acceleration error, lag and the MPJPE per shift (+s: each output against the truth s frames before
its stamp, i.e. s frames late; the report's sign. tools/target_shift.py's shift -s is the same s frames late).

    .venv/bin/python tools/lag_probe.py --run out/demo --run out/slice [--bag BAG ...] [--checkpoint mpm_t27_causal]
        [--no-refiner]   # the lifter's own pose (the node's `--set pose_refiner=false`)
        [--refiner out/r7/pose_refiner_x.weights.json]   # a candidate refiner file instead of the checkpoint's
        [--set pose_lead 0.0333]   # a temporal option (TemporalOptions field) for the library's rows
        [--gap-fill 0]   # the library's gap_fill_frames (default: the node's)
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mpm_ros.bags.report import LAGS, compute_report


def row(name: str, report: dict[str, Any]) -> str:
    """One markdown row: outputs, MPJPE, acceleration error, lag and the MPJPE per shift."""
    motion = report["motion"]
    curve = motion["mpjpe_by_shift_mm"] or {}
    accel = motion["acceleration_error_mm"]
    lag = f"{motion['lag_frames']}{' (edge)' if motion['lag_at_edge'] else ''}"
    return (f"| {name} | {report['matched_skeletons']} | {report['mpjpe_mm']:.1f} | "
            f"{'-' if accel is None else f'{accel:.2f}'} | {lag} | "
            + " | ".join(f"{curve[str(s)]:.1f}" if str(s) in curve else "-" for s in LAGS) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", default=[], help="pipeline output folder (node + library)")
    parser.add_argument("--bag", type=Path, action="append", default=[], help="a make_bag bag (library only)")
    parser.add_argument("--checkpoint", default="mpm_t27_causal", help="shipped name or .pt path (the node's)")
    parser.add_argument("--backend", default="onnxruntime", help="torch | onnxruntime")
    parser.add_argument("--no-refiner", action="store_true", help="the lifter's own pose (pose_refiner false)")
    parser.add_argument("--refiner", type=Path, help="a candidate refiner's .weights.json (train_refiner.py fit "
                        "--out-dir) instead of the one mpm_model/weights holds for the checkpoint")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a temporal option (TemporalOptions field) for the library's rows, e.g. --set pose_lead "
                             "0.0333 (the node's rows are as recorded: give the pipeline the same --set)")
    parser.add_argument("--gap-fill", type=int, default=None, help="the library's gap_fill_frames (default: the "
                        "node's default; 0 = hidden joints never bridged)")
    args = parser.parse_args(argv)
    if not args.run and not args.bag:
        parser.error("give at least one --run or --bag")
    from mpm_model.deploy.backends import create_backend
    from mpm_model.streaming import LifterOptions, StreamOptions
    from mpm_model.streaming.refiner import load_refiner
    from mpm_ros.backend_setup import pose_refiner
    from mpm_ros.bags.offline_run import offline_run
    from mpm_ros.bags.root_bench import temporal_options
    from mpm_ros.bags.run_data import load_run

    backend = create_backend(args.backend, checkpoint=args.checkpoint, device="cpu")
    if args.no_refiner:
        refiner, why = None, "off"
    elif args.refiner:
        refiner, why = load_refiner(args.refiner.name.removesuffix(".weights.json"), args.refiner.parent), ""
    else:
        refiner, why = pose_refiner(args.checkpoint)
    off = [("pose_refiner", "false")] if args.no_refiner else []
    stream = StreamOptions() if args.gap_fill is None else StreamOptions(gap_fill_frames=args.gap_fill)
    options = LifterOptions(stream=stream, temporal=temporal_options([*args.set, *off]))
    print(f"library: {args.checkpoint} on {args.backend}, pose refiner: {(args.refiner or 'on') if refiner else why}"
          + "".join(f", {name} {value}" for name, value in args.set) + f", gap_fill_frames {stream.gap_fill_frames}")
    print("| source | outputs | MPJPE mm | accel. error mm/frame² | lag | "
          + " | ".join(f"{s:+d}" for s in LAGS) + " |\n|---|---:|---:|---:|---:|" + "---:|" * len(LAGS), flush=True)
    for run in args.run:
        print(row(f"{run.name}: node", compute_report(load_run(run / "input_bag", run / "output_bag"))))
        print(row(f"{run.name}: library", compute_report(offline_run(run / "input_bag", backend, options, refiner))),
              flush=True)
    for bag in args.bag:
        name = bag.parent.name if bag.name == "input_bag" else bag.name  # a pipeline folder's input bag
        print(row(f"{name}: library", compute_report(offline_run(bag, backend, options, refiner))), flush=True)


if __name__ == "__main__":
    main()
