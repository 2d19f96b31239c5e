"""Write procedural synthetic motion in the shared mocap npz format.

The shared mocap data is not always at hand (CI, fresh machines); this gives the training and demo
pipelines real files to run on. Synthetic motion is labelled `source="synthetic-procedural"` in the file.
Example: python -m mpm_model.data.make_synthetic --out synth.npz --sequences 40 --frames 1500
"""
from __future__ import annotations

import argparse

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.data.make_synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output npz path")
    parser.add_argument("--sequences", type=int, default=40, help="number of clips (one subject each)")
    parser.add_argument("--frames", type=int, default=1500, help="frames per clip")
    parser.add_argument("--fps", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.sequences < 1 or args.frames < 2:
        parser.error("--sequences must be >= 1 and --frames >= 2")
    sequences = synthetic_sequences(args.sequences, args.frames, fps=args.fps, seed=args.seed)
    write_mocap(args.out, sequences)
    print(f"wrote {len(sequences)} synthetic sequences x {args.frames} frames at {args.fps:g} Hz to {args.out}")


if __name__ == "__main__":
    main()
