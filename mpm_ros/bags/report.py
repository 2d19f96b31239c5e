"""Score a replay recording: accuracy vs ground truth, output rate, end-to-end latency, completeness, drops.

Predictions (/skeletons3d) are matched to ground truth by (header stamp, track id) and compared root-relative
(the node may publish root-relative or placed skeletons). Ground truth and inputs are taken from the output
bag when replay recorded them (their stamps were shifted like the node's inputs), else from the input bag.
Latency = bag receive time - source header stamp: one clock only when replay re-stamped to now.
Placement (where the person is, not only the pose): for skeletons published as placed, the root (pelvis) position
error in metres and the depth error in % of the true depth, per track, per placement method and over the run.

    python -m mpm_ros.bags.report --input bags/demo --output out/demo/run --json-out out/demo/report.json --plots-dir out/demo
"""
from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model import metrics
from mpm_model.orientations import JOINT_GROUPS, joint_orientations
from mpm_model.rotations import quaternion_angle
from mpm_ros.bags.run_data import RunData, load_run

NUM_JOINTS = 17
# Diagnostics keys of the lifter that describe the run (copied into the report as "node").
NODE_KEYS = ("backend", "device", "checkpoint", "window", "mode", "output_delay_frames", "inference_p50_ms",
             "inference_p99_ms", "end_to_end_p50_ms", "end_to_end_p99_ms")


def _root_relative(joints: np.ndarray) -> np.ndarray:
    return joints - joints[..., :1, :]


def _percentiles_ms(values_ns: list[int]) -> dict[str, float | int | None]:
    if not values_ns:
        return {"count": 0, "p50": None, "p99": None, "mean": None, "max": None}
    ms = np.asarray(values_ns, dtype=np.float64) / 1e6
    return {"count": int(ms.size), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "mean": float(ms.mean()), "max": float(ms.max())}


def _mm(value: float | None) -> float | None:
    return None if value is None else value * 1e3


PLACEMENT_NAMES = {1: "reprojection", 2: "depth", 3: "predicted"}  # Skeleton3D.REPROJECTION / DEPTH / PREDICTED


def _spread(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"median": None, "mean": None, "p90": None}
    return {"median": float(np.median(values)), "mean": float(values.mean()), "p90": float(np.percentile(values, 90))}


def placement_errors(pred_roots: np.ndarray, gt_roots: np.ndarray) -> dict[str, Any]:
    """(N, 3) placed roots vs (N, 3) true roots, camera frame metres → root position error (m), depth error
    (|z - z_true| / z_true, %) and the true depth range of the people (m)."""
    pred_roots, gt_roots = np.asarray(pred_roots, np.float64).reshape(-1, 3), np.asarray(gt_roots).reshape(-1, 3)
    error = np.linalg.norm(pred_roots - gt_roots, axis=-1)  # (N,)
    depth_pct = 100.0 * np.abs(pred_roots[:, 2] - gt_roots[:, 2]) / np.abs(gt_roots[:, 2])  # (N,)
    distance = gt_roots[:, 2]
    return {"count": int(len(error)), "root_error_m": _spread(error), "depth_error_pct": _spread(depth_pct),
            "true_depth_m": {"min": float(distance.min()), "median": float(np.median(distance)),
                             "max": float(distance.max())} if len(distance) else None}


def placement_report(run: RunData, track: int | None = None) -> dict[str, Any]:
    """Placed vs unplaced counts and placement errors of the matched placed skeletons (of one track, or all)."""
    preds = [p for p in run.predictions if track is None or p.track_id == track]
    pairs = [(p, run.ground_truth.get((p.stamp_ns, p.track_id))) for p in preds if p.placed]
    pairs = [(p, gt) for p, gt in pairs if gt is not None and np.isfinite(p.joints).all()]
    out = {"placed": sum(p.placed for p in preds), "unplaced": sum(not p.placed for p in preds),
           **placement_errors(np.array([p.joints[0] for p, _ in pairs]).reshape(-1, 3),
                              np.array([gt[0] for _, gt in pairs]).reshape(-1, 3))}
    out["by_method"] = {name: placement_errors(np.array([p.joints[0] for p, _ in pairs if p.placement == code]),
                                               np.array([gt[0] for p, gt in pairs if p.placement == code]))
                        for code, name in PLACEMENT_NAMES.items()}
    return out


MOTION_KEYS = ("velocity_error_mm", "acceleration_mm", "true_acceleration_mm", "acceleration_error_mm")
LAGS = range(-4, 9)  # frame shifts tried for the lag: +s = an output matches the truth of s frames before its stamp


def _shifted_mpjpe(runs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(len(LAGS), 2): summed MPJPE and count of outputs p[i] against the truth g[i - s] (s > 0: the output shows
    the pose of s frames before its stamp, it is s frames late). Every shift judges the SAME outputs of each run
    (those with a truth at every shift), so no shift gains by leaving out a run's first or last outputs."""
    out = np.zeros((len(LAGS), 2))
    for p, g in runs:  # (n, J, 3) each, aligned by input frame
        outputs = np.arange(LAGS[-1], len(p) + LAGS[0])  # (n',) with g[i - s] inside the run for every s
        for k, s in enumerate(LAGS):
            if len(outputs):
                out[k] += [np.linalg.norm(p[outputs] - g[outputs - s], axis=-1).mean(-1).sum(), len(outputs)]
    return out


def motion_report(stamps: list[int], pred: np.ndarray, gt: np.ndarray, frames: dict[int, int]) -> dict[str, Any]:
    """Velocity error (mm/frame), acceleration = jitter (mm/frame², the truth's beside it), acceleration error
    (SmoothNet's: mean over joints of |a_pred - a_gt|, mm/frame²) and the shifted MPJPE sums the lag comes from, of
    one track's root-relative outputs (N, J, 3), over its runs of outputs for consecutive input frames."""
    index = np.array([frames.get(s, -10) for s in stamps])  # (N,)
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    runs = [(p, g) for p, g in zip(np.split(pred, breaks), np.split(gt, breaks)) if len(p) >= 3]
    if not runs:
        return {key: None for key in MOTION_KEYS} | {"frames": 0, "shifted": _shifted_mpjpe([]).tolist()}
    weights = [len(p) for p, _ in runs]
    mean = lambda values: float(np.average(values, weights=weights))  # noqa: E731
    accel_error = [np.linalg.norm(np.diff(p, 2, axis=0) - np.diff(g, 2, axis=0), axis=-1).mean() for p, g in runs]
    return {"velocity_error_mm": _mm(mean([metrics.velocity_error(p, g) for p, g in runs])),
            "acceleration_mm": _mm(mean([metrics.acceleration(p) for p, _ in runs])),
            "true_acceleration_mm": _mm(mean([metrics.acceleration(g) for _, g in runs])),
            "acceleration_error_mm": _mm(mean(accel_error)), "frames": sum(weights),
            "shifted": _shifted_mpjpe(runs).tolist()}


def root_velocity_report(run: RunData) -> dict[str, Any]:
    """|v_pred - v_true| (m/s) of the root velocities the node published against the ground truth's."""
    errors = [np.linalg.norm(p.velocity - v) for p in run.predictions if p.velocity is not None
              and (v := run.true_velocity.get((p.stamp_ns, p.track_id))) is not None]
    return {"count": len(errors), "median_m_s": float(np.median(errors)) if errors else None,
            "p90_m_s": float(np.quantile(errors, 0.9)) if errors else None}


def orientation_report(run: RunData) -> dict[str, float | None]:
    """Mean angle (degrees) per joint group between the published joint orientations and the same construction on
    the ground truth (docs/ORIENTATIONS.md); None where no matched prediction carried orientations."""
    pred, gt = [], []
    for p in run.predictions:
        truth = run.ground_truth.get((p.stamp_ns, p.track_id))
        if truth is not None and p.orientations is not None and p.orientations.shape == (NUM_JOINTS, 4):
            pred.append(p.orientations)
            gt.append(joint_orientations(truth))
    if not pred:
        return {name.split()[0]: None for name in JOINT_GROUPS}
    degrees = np.degrees(quaternion_angle(np.array(pred), np.array(gt)))  # (N, 17)
    return {name.split()[0]: float(degrees[:, list(joints)].mean()) for name, joints in JOINT_GROUPS.items()}


def compute_report(run: RunData) -> dict[str, Any]:
    """All numbers as a JSON-ready dict (lengths in mm, times in ms)."""
    per_track: dict[int, dict[str, Any]] = {}
    matched_pred, matched_gt, matched_stamps = defaultdict(list), defaultdict(list), defaultdict(list)
    outputs = Counter(p.track_id for p in run.predictions)
    frames = {stamp: i for i, stamp in enumerate(sorted(run.input_stamps))}
    for p in sorted(run.predictions, key=lambda p: p.stamp_ns):
        gt = run.ground_truth.get((p.stamp_ns, p.track_id))
        if gt is not None and p.joints.shape == (NUM_JOINTS, 3) and np.isfinite(p.joints).all():
            matched_pred[p.track_id].append(_root_relative(p.joints))
            matched_gt[p.track_id].append(_root_relative(gt))
            matched_stamps[p.track_id].append(p.stamp_ns)
    for track in sorted(set(run.inputs_per_track) | set(outputs)):
        pred = np.asarray(matched_pred[track]).reshape(-1, NUM_JOINTS, 3)
        gt = np.asarray(matched_gt[track]).reshape(-1, NUM_JOINTS, 3)
        inputs = run.inputs_per_track.get(track, 0)
        per_track[track] = {
            "inputs": inputs, "outputs": outputs.get(track, 0), "matched": int(pred.shape[0]),
            "completeness": outputs.get(track, 0) / inputs if inputs else None,
            "mpjpe_mm": _mm(metrics.mpjpe(pred, gt)) if len(pred) else None,
            "p_mpjpe_mm": _mm(metrics.p_mpjpe(pred, gt)) if len(pred) else None,
            "placement": placement_report(run, track),
            "motion": motion_report(matched_stamps[track], pred, gt, frames),
        }
    all_pred = np.concatenate([np.asarray(v) for v in matched_pred.values()]) if matched_pred else np.zeros((0, 17, 3))
    all_gt = np.concatenate([np.asarray(v) for v in matched_gt.values()]) if matched_gt else np.zeros((0, 17, 3))
    receive = [r for r, _ in run.output_messages]
    span_s = (max(receive) - min(receive)) / 1e9 if len(receive) > 1 else 0.0
    total_inputs = sum(run.inputs_per_track.values())
    dropped = {k: _number(v) for k, v in run.diagnostics.items() if k.startswith("dropped")}
    return {
        "output_messages": len(run.output_messages),
        "output_skeletons": len(run.predictions),
        "input_frames": len(run.input_stamps),
        "input_skeletons": total_inputs,
        "output_rate_hz": (len(receive) - 1) / span_s if span_s > 0 else None,
        "latency_ms": _percentiles_ms([r - s for r, s in run.output_messages]),
        "stamps_match_inputs": (sum(s in run.input_stamps for _, s in run.output_messages) / len(run.output_messages)
                                if run.output_messages else None),
        "matched_skeletons": int(all_pred.shape[0]),
        "mpjpe_mm": _mm(metrics.mpjpe(all_pred, all_gt)) if len(all_pred) else None,
        "p_mpjpe_mm": _mm(metrics.p_mpjpe(all_pred, all_gt)) if len(all_pred) else None,
        "completeness": len(run.predictions) / total_inputs if total_inputs else None,
        "placement": placement_report(run),
        "motion": _motion_over_tracks(per_track),
        "orientation_deg": orientation_report(run),
        "root_velocity": root_velocity_report(run),
        "dropped": dropped,
        "node": {k: _number(v) for k, v in run.diagnostics.items() if k in NODE_KEYS},
        "tracks": {str(k): v for k, v in per_track.items()},
        "sources": run.sources,
    }


def _motion_over_tracks(per_track: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The tracks' motion numbers, weighted by their frames."""
    rows = [row["motion"] for row in per_track.values() if row["motion"]["frames"]]
    frames = sum(r["frames"] for r in rows)
    shifted = np.sum([r["shifted"] for r in rows], axis=0) if rows else np.zeros((len(LAGS), 2))
    by_shift = shifted[:, 0] / np.maximum(shifted[:, 1], 1) * 1e3 if shifted[:, 1].all() else None  # (len(LAGS),) mm
    lag = None if by_shift is None else LAGS[int(np.argmin(by_shift))]
    return {key: (sum(r[key] * r["frames"] for r in rows) / frames if frames else None)
            for key in MOTION_KEYS} | {
        "frames": frames, "lag_frames": lag, "lag_at_edge": lag in (LAGS[0], LAGS[-1]) if lag is not None else None,
        "lag_outputs": int(shifted[0, 1]),
        "mpjpe_by_shift_mm": None if by_shift is None else {str(s): float(e) for s, e in zip(LAGS, by_shift)}}


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'track':>5} {'inputs':>7} {'outputs':>7} {'complete':>8} {'MPJPE mm':>9} {'P-MPJPE mm':>10}"]
    for track, row in report["tracks"].items():
        lines.append(f"{track:>5} {row['inputs']:>7} {row['outputs']:>7} {_fmt(row['completeness'], 3):>8} "
                     f"{_fmt(row['mpjpe_mm']):>9} {_fmt(row['p_mpjpe_mm']):>10}")
    lines += ["", format_placement(report), ""]
    lat = report["latency_ms"]
    lines += [
        f"all: MPJPE {_fmt(report['mpjpe_mm'])} mm, P-MPJPE {_fmt(report['p_mpjpe_mm'])} mm over "
        f"{report['matched_skeletons']} matched skeletons; completeness {_fmt(report['completeness'], 3)}",
        f"output: {report['output_messages']} messages at {_fmt(report['output_rate_hz'], 2)} Hz; "
        f"stamps matching input frames: {_fmt(report['stamps_match_inputs'], 3)}",
        f"end-to-end latency: p50 {_fmt(lat['p50'], 2)} ms, p99 {_fmt(lat['p99'], 2)} ms, "
        f"max {_fmt(lat['max'], 2)} ms (n={lat['count']})",
        f"motion: velocity error {_fmt(report['motion']['velocity_error_mm'], 2)} mm/frame, acceleration "
        f"(jitter) {_fmt(report['motion']['acceleration_mm'], 2)} mm/frame² (truth "
        f"{_fmt(report['motion']['true_acceleration_mm'], 2)}), acceleration error "
        f"{_fmt(report['motion']['acceleration_error_mm'], 2)} mm/frame², lag {report['motion']['lag_frames']} "
        f"frame(s) over {report['motion']['frames']} frames",
        format_lag(report["motion"]),
        f"root velocity error: median {_fmt(report['root_velocity']['median_m_s'], 3)} m/s, p90 "
        f"{_fmt(report['root_velocity']['p90_m_s'], 3)} m/s over {report['root_velocity']['count']} skeletons",
        "orientations: mean angle to the ground truth's (deg): " + ", ".join(
            f"{group} {_fmt(value)}" for group, value in report["orientation_deg"].items()),
        f"dropped (node diagnostics): {report['dropped'] or 'not recorded'}",
    ]
    if report["output_skeletons"] and not report["matched_skeletons"]:
        lines.append("WARNING: no prediction matched a ground-truth (stamp, track id); if replay re-stamped, record "
                     "the inputs too (replay --record does) so ground truth carries the same stamps")
    if report["node"]:
        lines.append("node: " + ", ".join(f"{k}={v}" for k, v in report["node"].items()))
    return "\n".join(lines)


def format_lag(motion: dict[str, Any]) -> str:
    """The MPJPE (mm) of the outputs against the truth s frames before their stamps, for every shift tried."""
    curve = motion.get("mpjpe_by_shift_mm")
    if not curve:
        return "lag: no run of consecutive outputs long enough to shift"
    edge = f"; at the edge of the {LAGS[0]:+d}..{LAGS[-1]:+d} searched: the true minimum may lie beyond" \
        if motion["lag_at_edge"] else ""
    return (f"lag: MPJPE mm of each output against the truth s frames before its stamp (+s = s frames late), over "
            f"{motion['lag_outputs']} outputs: " + " ".join(f"{int(k):+d}:{v:.1f}" for k, v in curve.items()) + edge)


def format_placement(report: dict[str, Any]) -> str:
    """Root position error (mm) and depth error (%) of the placed skeletons, per track and over the run."""
    lines = [f"{'placement':>9} {'placed':>7} {'unplaced':>8} {'root err median/mean/p90 mm':>28} "
             f"{'depth err median/p90 %':>22} {'true depth m':>13}"]

    def row(name: str, block: dict[str, Any]) -> str:
        err, pct, depth = block["root_error_m"], block["depth_error_pct"], block["true_depth_m"]
        errors = "/".join(_fmt(_mm(err[k]), 0) for k in ("median", "mean", "p90"))
        pcts = "/".join(_fmt(pct[k], 1) for k in ("median", "p90"))
        span = f"{depth['min']:.1f}-{depth['max']:.1f}" if depth else "-"
        return f"{name:>9} {_fmt(block.get('placed')):>7} {_fmt(block.get('unplaced')):>8} {errors:>28} " \
               f"{pcts:>22} {span:>13}"

    lines += [row(f"track {track}", data["placement"]) for track, data in report["tracks"].items()]
    lines.append(row("all", report["placement"]))
    lines += [row(name, block) for name, block in report["placement"]["by_method"].items() if block["count"]]
    return "\n".join(lines)


def write_plots(run: RunData, report: dict[str, Any], plots_dir: Path) -> list[Path]:
    """snapshot.png (prediction beside ground truth), error_over_time.png, latency_hist.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mpm_ros.bags.report_plots import plot_error_over_time, plot_latency_histogram, plot_snapshot

    plots_dir.mkdir(parents=True, exist_ok=True)
    paths = [plots_dir / "snapshot.png", plots_dir / "error_over_time.png", plots_dir / "latency_hist.png"]
    for path, draw in zip(paths, (plot_snapshot, plot_error_over_time, plot_latency_histogram)):
        figure = draw(run, report)
        figure.savefig(path, dpi=90)
        plt.close(figure)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="the bag that was replayed (make_bag output)")
    parser.add_argument("--output", type=Path, required=True, help="the bag replay recorded")
    parser.add_argument("--json-out", type=Path, help="write the report as JSON here")
    parser.add_argument("--plots-dir", type=Path, help="write snapshot / error / latency PNGs here")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for path in (args.input, args.output):
        if not path.exists():
            raise SystemExit(f"report: bag {path} does not exist")
    run = load_run(args.input, args.output)
    report = compute_report(run)
    print(format_table(report))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2))
        print(f"report: wrote {args.json_out}")
    if args.plots_dir:
        for path in write_plots(run, report, args.plots_dir):
            print(f"report: wrote {path}")


if __name__ == "__main__":
    main()
