"""`make demo` and `make bench-node`: the two commands on the runner in mpm_ros/harness/runner.py.

    python -m mpm_ros.harness.pipeline demo  [--checkpoint NAME|PATH] [--people 2] [--duration 10] [--fps 30]
                                             [--clip MOCAP] [--set NAME=VALUE ...]
    python -m mpm_ros.harness.pipeline rgbd  (the same options as demo)
    python -m mpm_ros.harness.pipeline bench [--tracks 1,10] [--duration 10] [--fps 30] [--runs 200] [--out DIR]

demo (`make demo`): the bundled clip → a 2-person bag → lifter ← replay + record → report, in out/demo.

rgbd (`make demo-rgbd`): the bundled clip → an RGB-D bag (aligned depth, occluders) → lifter without and with
`use_depth` ← replay + record → root placement per distance and for the people the depth camera sees
(mpm_ros.bags.placement_eval's table), in out/demo_rgbd.

bench (`make bench-node`): the lifter end to end vs bare `Backend.infer()`. For each track count an --all-visible
bag (no dropouts), one runner pass; then, in the same run, bare `infer()` of the SAME backend configuration —
built by the node's own mpm_ros.backend_setup.build_backend from its parameter defaults plus the runner's
checkpoint, backend and engine dir (same ONNX export, device, threads) — at the batch the node infers (twice the
track count up to `mirror_max_tracks`, which lifts every window also mirrored). Table +
bench.json in out/bench, with `uptime` before and after (other processes on the CPU move every number here).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mpm_ros.harness.process import ROOT, HarnessError
from mpm_ros.harness.runner import (DEMO_CLIP, REPLAY_WAIT_S, NodeOptions, RunOptions, RunResult, best_checkpoint,
                                    ensure_clip, fresh_dir, isolate_ros, run_pipeline, say)

RANDOM_INIT_BANNER = """\
############################################################################
#  NO TRAINED WEIGHTS (none shipped, or --checkpoint ''): the node runs a  #
#  RANDOMLY INITIALISED model. Rate, latency and completeness are real;    #
#  MPJPE / P-MPJPE and the 3D snapshot are NOT meaningful.                 #
#  Train (`make train`) or pass --checkpoint NAME|PATH.                    #
############################################################################"""


@dataclass(frozen=True)
class DemoOptions:
    out: Path = ROOT / "out/demo"
    checkpoint: str | None = None  # None = best_checkpoint()
    backend: str = "onnxruntime"
    people: int = 2
    fps: float = 30.0
    duration_s: float = 10.0
    clip: Path = DEMO_CLIP
    overrides: Mapping[str, str] = field(default_factory=dict)  # node parameters (--set NAME=VALUE)


def demo(options: DemoOptions) -> RunResult:
    """`make demo`: the bundled clip → a bag → lifter ← replay + record → report, all in options.out."""
    import numpy as np

    from mpm_ros.bags.make_bag import make_bag

    out = options.out
    fresh_dir(out)
    env = isolate_ros(out)
    say("demo", f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, output in {out}/")
    ensure_clip(options.clip)
    say("demo", f"clip source: {sorted(set(np.load(options.clip)['source'].tolist()))}")
    counts = make_bag(options.clip, out / "input_bag", people=options.people, fps=options.fps,
                      duration=options.duration_s, seed=0)
    print(f"make_bag: wrote {out / 'input_bag'} (mcap): {counts}", flush=True)
    checkpoint = best_checkpoint(options.checkpoint)
    say("demo", f"weights: {checkpoint}" if checkpoint else RANDOM_INIT_BANNER)
    node = NodeOptions(checkpoint, options.backend, overrides=options.overrides)
    result = run_pipeline(RunOptions(out / "input_bag", out, node, prefix="demo",
                                     replay_timeout_s=options.duration_s + REPLAY_WAIT_S + 120.0))
    if not checkpoint:
        say("demo", "REMINDER: random-init weights — the accuracy numbers above are not meaningful.")
    say("demo", f"done. Report: {out}/report.json; plots: {out}/snapshot.png {out}/error_over_time.png "
                f"{out}/latency_hist.png")
    say("demo", f"bags: {out}/input_bag (replayed), {out}/output_bag (recorded); logs: {out}/node.log, "
                f"{out}/replay.log")
    return result


def demo_rgbd(options: DemoOptions) -> dict[str, Any]:
    """`make demo-rgbd`: the bundled clip → an RGB-D bag (make_bag --rgbd) → lifter without and with
    `use_depth` ← replay + record → placement per distance and for the people depth sees, in options.out."""
    import numpy as np

    from mpm_ros.bags import bag_io
    from mpm_ros.bags.make_bag import make_bag
    from mpm_ros.bags.placement_eval import depth_seen, format_rows, summarize
    from mpm_ros.bags.run_data import load_run

    out = options.out
    fresh_dir(out)
    env = isolate_ros(out)
    say("demo-rgbd", f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, output in {out}/")
    ensure_clip(options.clip)
    counts = make_bag(options.clip, out / "input_bag", people=options.people, fps=options.fps,
                      duration=options.duration_s, seed=0, rgbd=True)
    print(f"make_bag --rgbd: wrote {out / 'input_bag'} (mcap): {counts}", flush=True)
    seen = depth_seen(out / "input_bag")
    original = sorted(bag_io.stamp_ns(m.header) for _, m in bag_io.read_topics(
        out / "input_bag", [bag_io.KEYPOINTS_TOPIC])[bag_io.KEYPOINTS_TOPIC])
    checkpoint = best_checkpoint(options.checkpoint)
    rows = []
    for use_depth in (False, True):
        name = "with_depth" if use_depth else "without_depth"
        # The replay publishes reliably, and a frame's image and keypoints at one instant (a detector would take
        # 10-30 ms on the image first): the larger image may arrive a few ms after its keypoints.
        node = NodeOptions(checkpoint, options.backend, overrides={
            "depth_reliable": "true", "depth_wait": "0.03", **options.overrides, "use_depth": str(use_depth).lower()})
        result = run_pipeline(RunOptions(out / "input_bag", out / name, node, plots=False, verbose=False,
                                         prefix="demo-rgbd",
                                         replay_timeout_s=options.duration_s + REPLAY_WAIT_S + 120.0))
        run = load_run(out / "input_bag", result.output_bag)
        restamped = dict(zip(sorted(run.input_stamps), original))  # the replay re-stamps in order
        placed = [(p, run.ground_truth.get((p.stamp_ns, p.track_id))) for p in run.predictions if p.placed]
        placed = [(p, gt) for p, gt in placed if gt is not None and np.isfinite(p.joints).all()]
        say("demo-rgbd", f"{name}: {len(run.predictions)} skeletons, {len(placed)} placed and matched")
        rows.append(summarize(use_depth, np.array([p.joints[0] for p, _ in placed]).reshape(-1, 3),
                              np.array([gt[0] for _, gt in placed]).reshape(-1, 3),
                              np.array([p.placement for p, _ in placed], int),
                              np.array([seen.get((restamped.get(p.stamp_ns, -1), p.track_id), 0.0)
                                        for p, _ in placed]),
                              {k: v for k, v in run.diagnostics.items() if "depth" in k}))
    (out / "placement.json").write_text(json.dumps(rows, indent=2))
    print(format_rows(rows), flush=True)
    say("demo-rgbd", f"done: {out}/placement.json; node logs {out}/without_depth/node.log, {out}/with_depth/node.log")
    return {"rows": rows}


@dataclass(frozen=True)
class BenchOptions:
    out: Path = ROOT / "out/bench"
    tracks: tuple[int, ...] = (1, 10)
    fps: float = 30.0
    duration_s: float = 10.0
    checkpoint: str | None = None  # None = best_checkpoint(); "" = the node's random-init model
    backend: str = "onnxruntime"
    runs: int = 200
    warmup: int = 20
    clip: Path = DEMO_CLIP


def node_run(options: BenchOptions, node: NodeOptions, tracks: int) -> dict[str, Any]:
    """One pipeline pass with `tracks` people in view the whole time; the report (also in tracks<N>/)."""
    from mpm_ros.bags.make_bag import make_bag

    out = options.out / f"tracks{tracks}"
    make_bag(options.clip, out / "input_bag", people=tracks, fps=options.fps, duration=options.duration_s,
             dropout=0.0, seed=tracks, all_visible=True)
    result = run_pipeline(RunOptions(out / "input_bag", out, node, plots=False, verbose=False, prefix="bench",
                                     replay_timeout_s=options.duration_s + REPLAY_WAIT_S + 120.0))
    (out / "report.txt").write_text(result.report_text + "\n")
    return result.report


def node_backend(node: NodeOptions) -> Any:
    """The backend exactly as the lifter builds it: its own build_backend on its parameter defaults plus what the
    runner passed (so threads, spinning, device, export cache and the random-init fallback all match)."""
    from mpm_ros.backend_setup import build_backend
    from mpm_ros.params import PARAMS, to_params

    values = {spec.name: spec.default for spec in PARAMS} | node.parameters()
    return build_backend(to_params(values))[0]


def bare_infer(node: NodeOptions, tracks: list[int], runs: int, warmup: int) -> dict[int, dict[str, Any]]:
    """Bare backend.infer() latency per track count, in this process, with the node's backend configuration, at the
    batch the node infers: twice the tracks up to the default `mirror_max_tracks` (each window also mirrored)."""
    from mpm_model.deploy.bench import time_backend
    from mpm_model.streaming import StreamOptions

    backend = node_backend(node)
    info = {"backend": backend.name, "device": str(backend.device), "window": backend.config.window,
            "selection_reason": backend.selection_reason}
    batches = {n: 2 * n if StreamOptions().mirrors(n) else n for n in tracks}
    return {n: {**info, "batch": batch, **time_backend(backend, batch, runs, warmup)} for n, batch in batches.items()}


def compare(tracks: int, report: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """One table row (ms; ratios are node / bare). Two views of the node's cost: end to end as a subscriber sees
    it (replay publish → recorder receive: two DDS hops included) minus bare infer() at batch = tracks, and inside
    the node (input callback → publish, from its /diagnostics) minus the node's own infer() time."""
    e2e, node = report["latency_ms"], report["node"]
    p50, p99 = e2e["p50"] or float("nan"), e2e["p99"] or float("nan")
    node_e2e, node_infer = node.get("end_to_end_p50_ms"), node.get("inference_p50_ms")
    return {"tracks": tracks, "output_hz": report["output_rate_hz"], "e2e_p50_ms": p50, "e2e_p99_ms": p99,
            "bare_p50_ms": bare["p50_ms"], "bare_p99_ms": bare["p99_ms"],
            "ratio_p50": p50 / bare["p50_ms"], "ratio_p99": p99 / bare["p99_ms"],
            "overhead_p50_ms": p50 - bare["p50_ms"], "overhead_p99_ms": p99 - bare["p99_ms"],
            "node_infer_p50_ms": node_infer, "node_e2e_p50_ms": node_e2e,
            "in_node_overhead_p50_ms": None if node_e2e is None or node_infer is None else node_e2e - node_infer,
            "completeness": report["completeness"], "dropped_total": report["dropped"].get("dropped_total"),
            "dropped": report["dropped"]}


COLUMNS = (("tracks", "tracks", 0), ("output Hz", "output_hz", 1), ("completeness", "completeness", 3),
           ("dropped", "dropped_total", 0), ("bare infer p50", "bare_p50_ms", 1), ("bare p99", "bare_p99_ms", 1),
           ("e2e p50", "e2e_p50_ms", 1), ("e2e p99", "e2e_p99_ms", 1), ("e2e/bare p50", "ratio_p50", 2),
           ("e2e − bare p50", "overhead_p50_ms", 1), ("e2e − bare p99", "overhead_p99_ms", 1),
           ("node infer p50", "node_infer_p50_ms", 1), ("in-node e2e p50", "node_e2e_p50_ms", 1),
           ("in-node overhead p50", "in_node_overhead_p50_ms", 1))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown, ms unless named otherwise; e2e = replay publish → recorder receive, in-node = callback → publish."""
    def num(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(title for title, _, _ in COLUMNS) + " |", "|---:" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(num(r[key], digits) for _, key, digits in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def bench(options: BenchOptions) -> dict[str, Any]:
    """Node runs for every track count, then bare infer() for the same batch sizes; printed and bench.json."""
    from mpm_model.deploy.bench import cpu_model, uptime
    from mpm_model.streaming import StreamOptions

    fresh_dir(options.out)
    env = isolate_ros(options.out)
    ensure_clip(options.clip)
    checkpoint = best_checkpoint(options.checkpoint)
    node = NodeOptions(checkpoint, options.backend)
    before = uptime()
    say("bench", f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, weights "
                 f"{checkpoint or 'random init (latency does not depend on the weights)'}; {before}")
    reports: dict[int, dict[str, Any]] = {}
    for tracks in dict.fromkeys(options.tracks):
        say("bench", f"{tracks} track(s): node run ({options.duration_s:g} s at {options.fps:g} Hz)")
        reports[tracks] = node_run(options, node, tracks)
    say("bench", f"bare {options.backend} infer(): {list(reports)} track(s), {options.runs} runs each")
    bare = bare_infer(node, list(reports), options.runs, options.warmup)
    after = uptime()
    rows = [compare(n, reports[n], bare[n]) for n in reports]
    first = bare[next(iter(reports))]
    machine = {"cpu": cpu_model(), "cpu_count": os.cpu_count()}
    header = (f"CPU: {machine['cpu']} ({machine['cpu_count']} cores); backend {first['backend']} on "
              f"{first['device']} built by the node's build_backend ({first['selection_reason']}), window "
              f"{first['window']}, bare batches {[bare[n]['batch'] for n in reports]} (mirrored up to "
              f"{StreamOptions().mirror_max_tracks} tracks), weights {checkpoint or 'random init'}; {options.fps:g} Hz, "
              f"{options.duration_s:g} s per run, {options.runs} bare runs\n"
              f"uptime before: {before}\nuptime after:  {after}")
    print(header + "\n" + format_table(rows), flush=True)
    result = {"options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
              "checkpoint": checkpoint, "machine": machine, "uptime_before": before, "uptime_after": after,
              "rows": rows, "bare": list(bare.values()), "reports": {str(n): r for n, r in reports.items()}}
    (options.out / "bench.json").write_text(json.dumps(result, indent=2))
    say("bench", f"wrote {options.out / 'bench.json'} (per-run reports and logs in {options.out}/tracks<N>/)")
    return result


def _tracks(text: str) -> tuple[int, ...]:
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.replace(",", " ").split()))  # unique, in order
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected track counts like 1,10, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive track counts, got {text!r}")
    return values


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.harness.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, out, text in (("demo", "out/demo", "the end-to-end demo (`make demo`)"),
                            ("rgbd", "out/demo_rgbd", "placement without / with depth on an RGB-D bag (`make demo-rgbd`)"),
                            ("bench", "out/bench", "node end-to-end vs bare infer() (`make bench-node`)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--checkpoint", help="shipped name or .pt; '' = random init (default: the node's default, if shipped)")
        sub.add_argument("--backend", default="onnxruntime", help="lifter backend (default onnxruntime)")
        sub.add_argument("--fps", type=float, default=30.0, help="bag frame rate (default 30)")
        sub.add_argument("--duration", type=float, default=10.0, help="bag seconds (default 10)")
        sub.add_argument("--out", type=Path, default=ROOT / out, help=f"output directory, wiped first ({out})")
    for name in ("demo", "rgbd"):
        commands.choices[name].add_argument("--people", type=int, default=2, help="tracked people (default 2)")
        commands.choices[name].add_argument("--clip", type=Path, default=DEMO_CLIP,
                                            help="mocap npz/pack the bag is made from (default: the bundled clip)")
        commands.choices[name].add_argument("--set", type=_assignment, action="append", default=[],
                                            metavar="NAME=VALUE", help="a node parameter, e.g. smoothing=true")
    bench = commands.choices["bench"]
    bench.add_argument("--tracks", type=_tracks, default=(1, 10), help="track counts (default 1,10)")
    bench.add_argument("--runs", type=int, default=200, help="timed bare infer() calls per batch (default 200)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("demo", "rgbd"):
            (demo if args.command == "demo" else demo_rgbd)(DemoOptions(
                out=args.out, checkpoint=args.checkpoint, backend=args.backend, people=args.people, fps=args.fps,
                duration_s=args.duration, clip=args.clip, overrides=dict(args.set)))
        else:
            bench(BenchOptions(out=args.out, tracks=args.tracks, fps=args.fps, duration_s=args.duration,
                               checkpoint=args.checkpoint, backend=args.backend, runs=args.runs))
    except (HarnessError, ValueError, OSError, subprocess.CalledProcessError) as err:
        say(args.command, f"FAILED: {err}", err=True)
        return 1
    except KeyboardInterrupt:
        say(args.command, "interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
