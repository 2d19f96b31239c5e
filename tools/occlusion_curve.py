"""Error vs occlusion ratio for one or more lifter checkpoints: runs `mpm_model.evaluate` per ratio, writes a
PNG figure and the numbers as JSON (the model card's figure is made with this script).

Example: .venv/bin/python tools/occlusion_curve.py --data test.npz --out docs/occlusion_curve.png \
             --checkpoint pretrained=weights/a.pt --checkpoint scratch=weights/b.pt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mpm_model import evaluate  # noqa: E402


def curve(checkpoint: str, data: str, ratios: list[float], stride: int) -> list[dict]:
    """One evaluate run per occlusion ratio (ratio 0 is the clean `lift` task)."""
    results = []
    for ratio in ratios:
        task = ["--task", "lift"] if ratio == 0 else ["--task", "lift_occluded", "--occlusion", str(ratio)]
        report = evaluate.main(["--checkpoint", checkpoint, "--data", data, "--stride", str(stride), *task])
        results.append({"occlusion": ratio, **report["metrics"]})
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", required=True, help="LABEL=PATH (repeatable) or PATH")
    parser.add_argument("--data", required=True, help="mocap npz (shared format)")
    parser.add_argument("--ratios", default="0,0.1,0.3,0.5", help="comma list of occlusion ratios")
    parser.add_argument("--stride", type=int, default=5, help="frames between evaluated windows")
    parser.add_argument("--out", required=True, help="PNG path; the JSON goes next to it")
    args = parser.parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",")]
    if any(not 0 <= r < 1 for r in ratios):
        parser.error(f"--ratios must lie in [0, 1), got {ratios}")

    curves = {}
    for spec in args.checkpoint:
        label, _, path = spec.rpartition("=")
        curves[label or Path(path).stem] = curve(path, args.data, ratios, args.stride)

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, points in curves.items():
        ax.plot([p["occlusion"] * 100 for p in points], [p["mpjpe_mm"] for p in points], marker="o", label=label)
    ax.set_xlabel("2D joints masked (%)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title(f"Error vs occlusion on {Path(args.data).name}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    out.with_suffix(".json").write_text(json.dumps({"data": args.data, "curves": curves}, indent=2))
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
