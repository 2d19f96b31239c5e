"""Placement with and without depth on an RGB-D bag, offline: the bag's frames through mpm_model's
StreamingLifter (no ROS, no node), the same camera matching and depth matching (DepthHistory) as the node, scored against the
bag's ground truth. The node's own numbers come from `make demo-rgbd` (mpm_ros.harness); this is the quick loop.

    python -m mpm_ros.bags.placement_eval --bag bags/rgbd [--checkpoint mpm_t27_causal] [--json-out eval.json]
        [--compare]   # also without the root state (root_filter false: issue 24's "before"), table first
        [--set root_fit_conditioning 0]   # a root state option (TemporalOptions) for the defaults' rows
        [--floor-transform X Y Z QX QY QZ QW]   # the floor as tf2 would give it (default: the bag's /tf_static)
        [--no-bag-tf]   # no floor from the bag's /tf_static: the node in a venv without tf2_ros
"""
from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model.streaming import LifterOptions, Observation, StreamingLifter
from mpm_model.streaming.camera import Camera, CameraHistory, intrinsics_problem
from mpm_model.streaming.depth import DepthImage, decode_depth, sample_joint_depths
from mpm_model.streaming.depth_history import (ARRIVED_LATE, BEHIND, FRAME_MISMATCH, INVALID_IMAGE, DepthHistory,
                                               header_problem)
from mpm_model.streaming.frames import FrameOptions, Transform, pose_problem
from mpm_model.streaming.ground import Floor, floor_from_transform
from mpm_ros.bags import bag_io
from mpm_ros.bags.report import PLACEMENT_NAMES, placement_errors
from mpm_ros.bags.root_bench import temporal_options

DISTANCE_BINS_M = ((1.0, 3.0), (3.0, 5.0), (5.0, 7.5))
SEEN_MARGIN_M = 0.3  # depth at a joint's pixel this much nearer than the joint: something in front of it
SEEN_SHARE = 2 / 3  # "depth sees the person": at least this share of its joints


def _frames(bag: Path) -> list[dict[str, Any]]:
    """Per stamp: camera_info, keypoints, depth and ground truth messages of the bag."""
    frames: dict[int, dict[str, Any]] = defaultdict(dict)
    topics = [bag_io.CAMERA_INFO_TOPIC, bag_io.KEYPOINTS_TOPIC, bag_io.DEPTH_TOPIC, bag_io.GROUND_TRUTH_TOPIC]
    for topic, messages in bag_io.read_topics(bag, topics).items():
        for _, msg in messages:
            frames[bag_io.stamp_ns(msg.header)][topic] = msg
    return [frames[stamp] | {"stamp": stamp} for stamp in sorted(frames)]


def depth_seen(bag: Path) -> dict[tuple[int, int], float]:
    """(stamp, track) → the fraction of the person's joints the bag's depth image shows: the depth at the true
    joint's pixel (median of a 5x5 patch) is no more than SEEN_MARGIN_M nearer than the joint — not an occluder,
    a hole or outside the image. Ground truth, for scoring only: what depth could have told about that person."""
    frames = _frames(bag)
    seen: dict[tuple[int, int], float] = {}
    for frame in frames:
        info, depth = frame.get(bag_io.CAMERA_INFO_TOPIC), frame.get(bag_io.DEPTH_TOPIC)
        truth = frame.get(bag_io.GROUND_TRUTH_TOPIC)
        if info is None or depth is None or truth is None:
            continue
        values, problem = decode_depth(depth.data, depth.encoding, depth.width, depth.height, depth.step,
                                       bool(depth.is_bigendian))
        if problem:
            continue
        k = np.asarray(info.k, np.float64).reshape(3, 3)
        for skeleton in truth.skeletons:
            joints = np.array([[p.x, p.y, p.z] for p in skeleton.joints])  # (J, 3) camera frame
            pixels = joints[:, :2] / joints[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]  # (J, 2)
            sampled = sample_joint_depths(DepthImage(values), pixels[None], np.ones((1, len(joints)), bool), 2)[0]
            with np.errstate(invalid="ignore"):
                seen[(frame["stamp"], int(skeleton.track_id))] = float(np.mean(sampled > joints[:, 2] - SEEN_MARGIN_M))
    return seen


def summarize(use_depth: bool, pred: np.ndarray, gt: np.ndarray, method: np.ndarray, seen: np.ndarray,
              counts: dict[str, int]) -> dict[str, Any]:
    """(N, 3) placed roots, (N, 3) true roots, (N,) placement method, (N,) depth-seen fraction → errors over the
    run, per distance bin, per placement method, and for the people depth sees (at least SEEN_SHARE of joints)."""
    def bins(select: np.ndarray) -> dict[str, Any]:
        return {f"{low:g}-{high:g} m": placement_errors(pred[select & (gt[:, 2] >= low) & (gt[:, 2] < high)],
                                                        gt[select & (gt[:, 2] >= low) & (gt[:, 2] < high)])
                for low, high in DISTANCE_BINS_M}

    everyone, visible = np.ones(len(pred), bool), seen >= SEEN_SHARE
    return {"use_depth": use_depth, **placement_errors(pred, gt), "by_distance": bins(everyone),
            "by_method": {name: placement_errors(pred[method == code], gt[method == code])
                          for code, name in PLACEMENT_NAMES.items()},
            "depth_sees_person": {**placement_errors(pred[visible], gt[visible]), "by_distance": bins(visible)},
            "depth_hidden_person": placement_errors(pred[~visible], gt[~visible]), "counts": dict(counts)}


def bag_floor(bag: Path, ground_frame: str = FrameOptions().ground_frame) -> Floor | None:
    """The floor the node's default lookup finds on a real ROS install replaying `bag`: `ground_frame` in the
    keypoints' frame from the bag's /tf_static (make_bag writes the camera's mount there); None without that edge."""
    keypoints = bag_io.read_topics(bag, [bag_io.KEYPOINTS_TOPIC])[bag_io.KEYPOINTS_TOPIC]
    if not keypoints:
        return None
    mount = bag_io.static_transform(bag, keypoints[0][1].header.frame_id, ground_frame)
    return None if mount is None else floor_from_transform(mount)


def evaluate(bag: Path, backend: Any, use_depth: bool, seen: dict[tuple[int, int], float],
             options: LifterOptions = LifterOptions(), floor: Floor | None = None) -> dict[str, Any]:
    """Run the bag through a fresh StreamingLifter (`floor`: every frame's floor from outside, as the node's tf2
    lookup of ground_frame gives it); placement errors (summarize) and counters."""
    lifter = StreamingLifter(backend, options)
    history = CameraHistory()
    truth: dict[tuple[int, int], np.ndarray] = {}
    true_velocity: dict[tuple[int, int], np.ndarray] = {}
    velocity_errors: list[float] = []  # |v_pred - v_true| m/s where the root state gives a velocity
    roots: list[tuple[np.ndarray, np.ndarray, int, float]] = []
    counts: Counter = Counter()
    depth = DepthHistory(lifter.delay_frames + 4)  # the node's matching: frame_id + stamp within the tolerance, no wait
    for frame in _frames(bag):
        stamp = frame["stamp"]
        info = frame.get(bag_io.CAMERA_INFO_TOPIC)
        if info is not None and not intrinsics_problem(info.width, info.height, info.k):
            history.add(stamp, info.header.frame_id, Camera(int(info.width), int(info.height),
                                                           np.asarray(info.k, np.float64).reshape(3, 3)))
        for s in getattr(frame.get(bag_io.GROUND_TRUTH_TOPIC), "skeletons", []):
            truth[(stamp, int(s.track_id))] = np.array([[p.x, p.y, p.z] for p in s.joints])
            if getattr(s, "has_velocity", False):
                true_velocity[(stamp, int(s.track_id))] = np.array([s.root_velocity.x, s.root_velocity.y,
                                                                     s.root_velocity.z])
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
            depth.keypoints_seen(stamp)
            _add_depth(depth, frame.get(bag_io.DEPTH_TOPIC), match.camera, counts)
        cameras = [history.match(e.stamp_ns, msg.header.frame_id).camera or match.camera for e in result.emissions]
        batch = lifter.lift(result.emissions, cameras, (lambda stamp_ns: _find_depth(
            depth, stamp_ns, msg.header.frame_id, counts)) if use_depth else None,
            None if floor is None else lambda stamp_ns: floor)
        counts.update(batch.counts)
        for lifted in batch.results:
            for track, joints, method, velocity in zip(lifted.track_ids, lifted.joints, lifted.placement,
                                                       lifted.root_velocity):
                counts["placed" if method else "unplaced"] += 1
                key = (lifted.stamp_ns, track)
                if np.isfinite(velocity).all() and key in true_velocity:
                    velocity_errors.append(float(np.linalg.norm(velocity - true_velocity[key])))
                if method and key in truth:
                    roots.append((joints[0], truth[key][0], int(method), seen.get(key, 0.0)))
    row = summarize(use_depth, np.array([r[0] for r in roots]).reshape(-1, 3),
                    np.array([r[1] for r in roots]).reshape(-1, 3), np.array([r[2] for r in roots], int),
                    np.array([r[3] for r in roots], float), counts)
    return row | {"root_velocity_error_m_s": {"count": len(velocity_errors), "median": float(
        np.median(velocity_errors)) if velocity_errors else None, "p90": float(np.quantile(velocity_errors, 0.9))
        if velocity_errors else None}}


def _add_depth(history: DepthHistory, msg: Any, camera: Camera, counts: Counter) -> None:
    """The frame's depth image into the history, after the node's header checks (counted as the node does)."""
    if msg is None:
        counts["depth.missing_frame"] += 1
        return
    refused = header_problem(msg.encoding, msg.width, msg.height, msg.step, len(msg.data), camera)
    values, problem = (None, refused[0]) if refused else decode_depth(
        msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian))
    if problem:
        counts[refused[0] if refused else INVALID_IMAGE] += 1
        return
    counts[ARRIVED_LATE] += history.add(msg.header.frame_id, DepthImage(values, bag_io.stamp_ns(msg.header)))


def _find_depth(history: DepthHistory, stamp_ns: int, frame_id: str, counts: Counter) -> DepthImage | None:
    found = history.find(stamp_ns, frame_id)
    if found.reason in (FRAME_MISMATCH, BEHIND):
        counts[found.reason] += 1
    return found.image


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Markdown table: with / without depth, overall, per distance bin, for the people depth sees, per method."""
    lines = ["| placement | skeletons | root error median mm | mean mm | p90 mm | depth error median % |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        name = "2D + depth" if row["use_depth"] else "2D only"
        sees = row["depth_sees_person"]
        blocks = [("all", row)] + list(row["by_distance"].items()) + [
            (f"depth sees >= {SEEN_SHARE:.0%} of joints", sees)] + [
            (f"depth sees >= {SEEN_SHARE:.0%}, {b}", v) for b, v in sees["by_distance"].items()] + [
            (f"depth sees < {SEEN_SHARE:.0%} of joints", row["depth_hidden_person"])]
        blocks += [(f"placed by {m}", b) for m, b in row["by_method"].items() if row["use_depth"] and b["count"]]
        for label, block in blocks:
            err, pct = block["root_error_m"], block["depth_error_pct"]
            cells = [f"{err[k] * 1e3:.0f}" if err[k] is not None else "-" for k in ("median", "mean", "p90")]
            depth = f"{pct['median']:.1f}" if pct["median"] is not None else "-"
            lines.append(f"| {name}, {label} | {block['count']} | {' | '.join(cells)} | {depth} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.placement_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, required=True, help="a make_bag --rgbd bag")
    parser.add_argument("--checkpoint", default="mpm_t27_causal", help="shipped name or .pt path")
    parser.add_argument("--backend", default="onnxruntime", help="torch | onnxruntime")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--compare", action="store_true", help="first the same without the root state")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a root state option (TemporalOptions field) for the defaults' rows, e.g. --set "
                             "root_fit_conditioning 0")
    parser.add_argument("--floor-transform", nargs=7, type=float, metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
                        help="the floor frame's pose in the camera frame (as `tf2_echo <camera frame> "
                             "base_footprint` prints it), every frame's floor when ground_camera_height is 0; "
                             "default: the bag's /tf_static, as the node's ground_frame lookup finds it")
    parser.add_argument("--no-bag-tf", action="store_true",
                        help="no floor from the bag's /tf_static (the node where tf2_ros is absent, as in this venv)")
    args = parser.parse_args(argv)
    try:
        options = LifterOptions(temporal=temporal_options(args.set))
    except ValueError as exc:
        parser.error(str(exc))
    floor = None
    if args.floor_transform:
        problem = pose_problem(tuple(args.floor_transform))
        floor = None if problem else floor_from_transform(Transform.from_pose(tuple(args.floor_transform)))
        problem = problem or floor.problem()
        if problem:
            parser.error(f"--floor-transform: {problem}")
    elif not args.no_bag_tf and options.temporal.ground_plane:
        try:
            floor = bag_floor(args.bag)
        except ValueError as exc:
            parser.error(str(exc))
        if floor is not None and (problem := floor.problem()):
            parser.error(f"{args.bag}'s /tf_static floor: {problem}")
    print(f"floor: {'none' if floor is None else f'{floor.height:.3f} m below the camera'}"
          + ("" if args.floor_transform or floor is None else " (the bag's /tf_static)"))
    from mpm_model.deploy.backends import create_backend
    from mpm_model.streaming.temporal import TemporalOptions

    backend = create_backend(args.backend, checkpoint=args.checkpoint, device="cpu")
    seen = depth_seen(args.bag)
    if args.compare:
        before = LifterOptions(temporal=TemporalOptions(root_filter=False))
        rows = [evaluate(args.bag, backend, use_depth, seen, before, floor) for use_depth in (False, True)]
        print("root_filter false:\n" + format_rows(rows) + "\n\ndefaults:")
    rows = [evaluate(args.bag, backend, use_depth, seen, options, floor) for use_depth in (False, True)]
    print(format_rows(rows))
    for row in rows:
        v = {k: x if x is None or k == "count" else round(x, 3) for k, x in row["root_velocity_error_m_s"].items()}
        print(f"{'with' if row['use_depth'] else 'without'} depth: root velocity error median {v['median']} m/s, "
              f"p90 {v['p90']} m/s over {v['count']} skeletons; {row['counts']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
