"""Placement with and without depth on an RGB-D bag, offline: the bag's frames through mpm_model's
StreamingLifter (no ROS, no node), the same camera matching and depth decoding as the node, scored against the
bag's ground truth. The node's own numbers come from `make demo-rgbd` (mpm_ros.harness); this is the quick loop.

    python -m mpm_ros.bags.placement_eval --bag bags/rgbd [--checkpoint mpm_t27_causal] [--json-out eval.json]
"""
from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model.streaming import Observation, StreamingLifter
from mpm_model.streaming.camera import Camera, CameraHistory, intrinsics_problem
from mpm_model.streaming.depth import DepthImage, decode_depth
from mpm_ros.bags import bag_io
from mpm_ros.bags.report import PLACEMENT_NAMES, placement_errors

DISTANCE_BINS_M = ((1.0, 3.0), (3.0, 5.0), (5.0, 7.5))


def _frames(bag: Path) -> list[dict[str, Any]]:
    """Per stamp: camera_info, keypoints, depth and ground truth messages of the bag."""
    frames: dict[int, dict[str, Any]] = defaultdict(dict)
    topics = [bag_io.CAMERA_INFO_TOPIC, bag_io.KEYPOINTS_TOPIC, bag_io.DEPTH_TOPIC, bag_io.GROUND_TRUTH_TOPIC]
    for topic, messages in bag_io.read_topics(bag, topics).items():
        for _, msg in messages:
            frames[bag_io.stamp_ns(msg.header)][topic] = msg
    return [frames[stamp] | {"stamp": stamp} for stamp in sorted(frames)]


def evaluate(bag: Path, backend: Any, use_depth: bool) -> dict[str, Any]:
    """Run the bag through a fresh StreamingLifter; placement errors overall, per distance bin and counters."""
    lifter = StreamingLifter(backend)
    history = CameraHistory()
    truth: dict[tuple[int, int], np.ndarray] = {}
    roots: list[tuple[np.ndarray, np.ndarray, int]] = []
    counts: Counter = Counter()
    depth_by_stamp: dict[int, DepthImage | None] = {}
    for frame in _frames(bag):
        stamp = frame["stamp"]
        info = frame.get(bag_io.CAMERA_INFO_TOPIC)
        if info is not None and not intrinsics_problem(info.width, info.height, info.k):
            history.add(stamp, info.header.frame_id, Camera(int(info.width), int(info.height),
                                                           np.asarray(info.k, np.float64).reshape(3, 3)))
        for s in getattr(frame.get(bag_io.GROUND_TRUTH_TOPIC), "skeletons", []):
            truth[(stamp, int(s.track_id))] = np.array([[p.x, p.y, p.z] for p in s.joints])
        msg = frame.get(bag_io.KEYPOINTS_TOPIC)
        if msg is None:
            continue
        match = history.match(stamp, msg.header.frame_id)
        if match.camera is None or match.problem:
            counts[match.problem or "no_camera_info"] += 1
            continue
        observations = {int(s.track_id): Observation(
            np.array([[k.x, k.y] for k in s.keypoints], np.float64), np.array([k.confidence for k in s.keypoints]))
            for s in msg.skeletons}
        result = lifter.push(stamp, observations, match.camera)
        if use_depth:  # the images of the last window's frames: an output may describe an older frame
            depth_by_stamp[stamp] = _depth_image(frame.get(bag_io.DEPTH_TOPIC), counts)
            depth_by_stamp = {s: d for s, d in depth_by_stamp.items() if s >= stamp - 2_000_000_000}
        cameras = [history.match(e.stamp_ns, msg.header.frame_id).camera or match.camera for e in result.emissions]
        depth = [depth_by_stamp.get(e.stamp_ns) for e in result.emissions] if use_depth else None
        batch = lifter.lift(result.emissions, cameras, depth)
        counts.update(batch.counts)
        for lifted in batch.results:
            for track, joints, method in zip(lifted.track_ids, lifted.joints, lifted.placement):
                counts["placed" if method else "unplaced"] += 1
                if method and (lifted.stamp_ns, track) in truth:
                    roots.append((joints[0], truth[(lifted.stamp_ns, track)][0], int(method)))
    pred = np.array([p for p, _, _ in roots]).reshape(-1, 3)
    gt = np.array([g for _, g, _ in roots]).reshape(-1, 3)
    method = np.array([m for _, _, m in roots], int)
    bins = {f"{low:g}-{high:g} m": placement_errors(pred[(gt[:, 2] >= low) & (gt[:, 2] < high)],
                                                   gt[(gt[:, 2] >= low) & (gt[:, 2] < high)])
            for low, high in DISTANCE_BINS_M}
    by_method = {name: placement_errors(pred[method == code], gt[method == code])
                 for code, name in PLACEMENT_NAMES.items()}
    return {"use_depth": use_depth, **placement_errors(pred, gt), "by_distance": bins, "by_method": by_method,
            "counts": dict(counts)}


def _depth_image(msg: Any, counts: Counter) -> DepthImage | None:
    if msg is None:
        counts["depth.missing_frame"] += 1
        return None
    values, problem = decode_depth(msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian))
    if problem:
        counts["depth.invalid_image"] += 1
        return None
    return DepthImage(values, bag_io.stamp_ns(msg.header))


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Markdown table: with / without depth, overall and per distance bin (root error in mm)."""
    lines = ["| placement | distance | skeletons | root error median mm | mean mm | p90 mm | depth error median % |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        name = "2D + depth" if row["use_depth"] else "2D only"
        methods = [(f"placed by {m}", b) for m, b in row["by_method"].items() if row["use_depth"] and b["count"]]
        for label, block in [("all", row)] + list(row["by_distance"].items()) + methods:
            err, pct = block["root_error_m"], block["depth_error_pct"]
            cells = [f"{err[k] * 1e3:.0f}" if err[k] is not None else "-" for k in ("median", "mean", "p90")]
            depth = f"{pct['median']:.1f}" if pct["median"] is not None else "-"
            lines.append(f"| {name} | {label} | {block['count']} | {' | '.join(cells)} | {depth} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.placement_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, required=True, help="a make_bag --rgbd bag")
    parser.add_argument("--checkpoint", default="mpm_t27_causal", help="shipped name or .pt path")
    parser.add_argument("--backend", default="onnxruntime", help="torch | onnxruntime")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    from mpm_model.deploy.backends import create_backend

    backend = create_backend(args.backend, checkpoint=args.checkpoint, device="cpu")
    rows = [evaluate(args.bag, backend, use_depth) for use_depth in (False, True)]
    print(format_rows(rows))
    for row in rows:
        print(f"{'with' if row['use_depth'] else 'without'} depth: {row['counts']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
