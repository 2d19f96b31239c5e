"""Which frame does a lifter's output match best? MPJPE (root-aligned, mm) of the reported pose against the
true pose `shift` frames away from the model's target frame, on clean 2D (exact projections, H36M-like cameras)
of the test slice, or with --detector on the training recipe's detector-like 2D errors. A model that reports its own target frame has its minimum at shift 0; a minimum at -1 means
the output describes the frame before the one it is stamped with (issue 26): it is one frame late, which the bag
report's lag (mpm_ros.bags.report: +s = s frames late) calls +1; the "late" column prints it in that sign.
`--sequence` keeps the sequences whose name contains it (e.g. bow_tired: the slice clip of docs/TEMPORAL.md "Lag").
`--axis x|y|z` scores one camera axis alone (mean absolute error, mm; z is depth): where the hedge lives, in the
image plane that the 2D fixes or in the depth it leaves open (MODEL_CARD, round 4).

    .venv/bin/python tools/target_shift.py --test ../shared/data/mocap_h36m17_test_slice.npz \
        --lifter mpm_t27_causal --lifter mpm_t81_causal_la3 [--max-shift 3] [--stride 8]
"""
from __future__ import annotations

import argparse
import json

import torch

AXES = ("x", "y", "z")  # camera axes (z: depth, along the optical axis)


@torch.no_grad()
def shift_errors(source: str, test: str, max_shift: int, stride: int, sources: tuple[str, ...] = (),
                 detector: bool = False, sequence: str = "", axis: int | None = None) -> dict[int, float]:
    """{shift: MPJPE mm} of `source`'s reported frame against the truth `shift` frames later (negative: earlier).

    Windows of window + 2·max_shift frames are cut around each anchor; the model sees the first `window` of them,
    so its target frame and every shifted truth frame come from one camera and one 2D draw."""
    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.data.detector import DetectorModel
    from mpm_model.data.windows import LiftingWindows, ViewOptions
    from mpm_model.training.evaluate import select_sequences

    model, cfg, _ = load_checkpoint(source, kind="lifter")
    model.eval()
    seqs = [s for s in select_sequences(test, "all", 0.15, 0)
            if (not sources or s.source in sources) and sequence in s.name]
    ti = cfg.target_index
    view = ViewOptions(detector=DetectorModel() if detector else None)
    data = LiftingWindows(seqs, cfg.window + 2 * max_shift, stride=stride, cameras_per_seq=1, augment=False,
                          fps=cfg.fps, target_index=ti + max_shift, view=view)
    errors = {s: [] for s in range(-max_shift, max_shift + 1)}
    for batch in torch.utils.data.DataLoader(data, batch_size=256):
        kp, mask, truth = batch["keypoints2d"], batch["mask"], batch["pose3d"]  # (B, T+2m, J, 2/3)
        _, pred = model(kp[:, :cfg.window], mask[:, :cfg.window])  # (B, 1, J, 3): frame ti of the window
        for s, e in window_errors(pred[:, 0], truth, ti, max_shift, axis).items():
            errors[s].append(e)
    return {s: 1000 * float(torch.cat(e).mean()) for s, e in errors.items()}


def window_errors(pred: torch.Tensor, truth: torch.Tensor, target: int, max_shift: int, axis: int | None = None
                  ) -> dict[int, torch.Tensor]:
    """{shift: (B,) mean joint error} of pred (B, J, 3) against truth (B, T, J, 3) at frame target + shift: the
    Euclidean distance, or with `axis` the absolute difference along that camera axis alone."""
    def error(diff: torch.Tensor) -> torch.Tensor:  # (B, J, 3) -> (B, J)
        return diff.norm(dim=-1) if axis is None else diff[..., axis].abs()
    return {s: error(pred - truth[:, target + s]).mean(dim=-1) for s in range(-max_shift, max_shift + 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", required=True, help="test slice npz")
    parser.add_argument("--lifter", action="append", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--max-shift", type=int, default=3)
    parser.add_argument("--stride", type=int, default=8, help="frames between windows")
    parser.add_argument("--source", action="append", default=[], help="only these mocap sources (repeatable)")
    parser.add_argument("--sequence", default="", help="only sequences whose name contains this")
    parser.add_argument("--detector", action="store_true", help="detector-like 2D errors (the training recipe's)")
    parser.add_argument("--axis", choices=AXES, default=None,
                        help="score one camera axis alone (mean absolute error; z: depth), else the 3D distance")
    parser.add_argument("--json", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shifts = list(range(-args.max_shift, args.max_shift + 1))
    print("| model | " + " | ".join(f"{s:+d}" for s in shifts) + " | best | late |")
    print("| --- |" + " ---: |" * (len(shifts) + 2))
    report = {}
    for source in args.lifter:
        errors = shift_errors(source, args.test, args.max_shift, args.stride, tuple(args.source), args.detector,
                              args.sequence, AXES.index(args.axis) if args.axis else None)
        best = min(errors, key=errors.get)
        report[source] = errors
        print(f"| {source} | " + " | ".join(f"{errors[s]:.1f}" for s in shifts) + f" | {best:+d} | {-best} |",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
