"""What a replay recording holds for scoring: predictions, ground truth and inputs, read from the bags
(shared by the report and its plots)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mpm_ros.bags import bag_io


@dataclass
class Prediction:
    receive_ns: int
    stamp_ns: int
    track_id: int
    joints: np.ndarray  # (17, 3) metres: camera frame when placed, else root-relative
    placed: bool = False  # Skeleton3D.placed: joints in the camera frame
    placement: int = 0  # Skeleton3D.placement: 0 NOT_PLACED, 1 REPROJECTION, 2 DEPTH, 3 PREDICTED
    orientations: np.ndarray | None = None  # (17, 4) x, y, z, w Skeleton3D.orientations; None when empty
    velocity: np.ndarray | None = None  # (3,) root velocity m/s when Skeleton3D.has_velocity


@dataclass
class RunData:
    predictions: list[Prediction]
    ground_truth: dict[tuple[int, int], np.ndarray]  # (stamp_ns, track_id) -> (17, 3)
    inputs_per_track: Counter  # track_id -> 2D skeletons received by the node's input topic
    input_stamps: set[int]
    output_messages: list[tuple[int, int]]  # (receive_ns, stamp_ns) per /skeletons3d message
    diagnostics: dict[str, str] = field(default_factory=dict)  # last value per key
    sources: dict[str, str] = field(default_factory=dict)
    true_velocity: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (stamp, track) -> (3,) m/s


def skeleton_joints(skeleton: Any) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in skeleton.joints], dtype=np.float64).reshape(-1, 3)


def _orientations(skeleton: Any) -> np.ndarray | None:
    turns = skeleton.orientations
    return np.array([[q.x, q.y, q.z, q.w] for q in turns], dtype=np.float64) if len(turns) else None


def _velocity(skeleton: Any) -> np.ndarray | None:
    """(3,) m/s, or None when the skeleton has none (or the bag predates the field)."""
    if not getattr(skeleton, "has_velocity", False):
        return None
    v = skeleton.root_velocity
    return np.array([v.x, v.y, v.z], np.float64)


def load_run(input_bag: Path, output_bag: Path) -> RunData:
    """Everything the report needs from the two bags."""
    topics = [bag_io.SKELETONS3D_TOPIC, bag_io.GROUND_TRUTH_TOPIC, bag_io.KEYPOINTS_TOPIC, bag_io.DIAGNOSTICS_TOPIC]
    out = bag_io.read_topics(output_bag, topics)
    sources = {}
    for topic in (bag_io.GROUND_TRUTH_TOPIC, bag_io.KEYPOINTS_TOPIC):
        sources[topic] = str(output_bag)
        if not out[topic]:
            out[topic] = bag_io.read_topics(input_bag, [topic])[topic]
            sources[topic] = str(input_bag)
    predictions, messages = [], []
    for receive_ns, msg in out[bag_io.SKELETONS3D_TOPIC]:
        stamp = bag_io.stamp_ns(msg.header)
        messages.append((receive_ns, stamp))
        predictions += [Prediction(receive_ns, stamp, int(s.track_id), skeleton_joints(s), bool(s.placed),
                                   int(s.placement), _orientations(s), _velocity(s))
                        for s in msg.skeletons]
    ground_truth = {(bag_io.stamp_ns(msg.header), int(s.track_id)): skeleton_joints(s)
                    for _, msg in out[bag_io.GROUND_TRUTH_TOPIC] for s in msg.skeletons}
    inputs = Counter(int(s.track_id) for _, msg in out[bag_io.KEYPOINTS_TOPIC] for s in msg.skeletons)
    input_stamps = {bag_io.stamp_ns(msg.header) for _, msg in out[bag_io.KEYPOINTS_TOPIC]}
    diagnostics: dict[str, str] = {}
    for _, msg in out[bag_io.DIAGNOSTICS_TOPIC]:
        for status in msg.status:
            diagnostics.update({kv.key: kv.value for kv in status.values})
    true_velocity = {(bag_io.stamp_ns(msg.header), int(s.track_id)): v for _, msg in out[bag_io.GROUND_TRUTH_TOPIC]
                     for s in msg.skeletons if (v := _velocity(s)) is not None}
    return RunData(predictions, ground_truth, inputs, input_stamps, messages, diagnostics, sources, true_velocity)
