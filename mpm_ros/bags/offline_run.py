"""A make_bag bag's 2D through StreamingLifter (no ROS, no node), as a RunData the report scores exactly like a
replay recording: the same (stamp, track) matching, MPJPE, motion and lag. Put beside the node's recording of the
same bag (tools/lag_probe.py), it tells what the node adds to the library's numbers (issue 24: nothing, for the lag).

Each output carries the stamp of the source frame it describes (Lifted.stamp_ns), as the node publishes it; the
camera is the bag's camera_info of the keypoints' stamp.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from mpm_model.streaming import LifterOptions, Observation, StreamingLifter
from mpm_model.streaming.camera import Camera
from mpm_model.streaming.lifter import InferenceBackend
from mpm_model.streaming.refiner import RefinerWeights
from mpm_ros.bags import bag_io
from mpm_ros.bags.run_data import Prediction, RunData, skeleton_joints


def offline_run(bag: Path, backend: InferenceBackend, options: LifterOptions = LifterOptions(),
                refiner: RefinerWeights | None = None) -> RunData:
    """Every /keypoints frame of `bag` through one fresh StreamingLifter (step), in stamp order → RunData with the
    bag's ground truth and inputs (receive time = stamp: no latency here)."""
    topics = [bag_io.CAMERA_INFO_TOPIC, bag_io.KEYPOINTS_TOPIC, bag_io.GROUND_TRUTH_TOPIC]
    messages = bag_io.read_topics(bag, topics)
    cameras = {bag_io.stamp_ns(m.header): Camera(int(m.width), int(m.height), np.asarray(m.k, np.float64).reshape(3, 3))
               for _, m in messages[bag_io.CAMERA_INFO_TOPIC]}
    keypoints = sorted(((bag_io.stamp_ns(m.header), m) for _, m in messages[bag_io.KEYPOINTS_TOPIC]),
                       key=lambda item: item[0])
    lifter = StreamingLifter(backend, options, refiner)
    predictions, output_messages = [], []
    for stamp, msg in keypoints:
        observations = {int(s.track_id): Observation(np.array([[k.x, k.y] for k in s.keypoints], np.float64),
                                                     np.array([k.confidence for k in s.keypoints], np.float32))
                        for s in msg.skeletons}
        for lifted in lifter.step(stamp, observations, cameras[stamp])[1]:
            output_messages.append((lifted.stamp_ns, lifted.stamp_ns))
            predictions += [Prediction(lifted.stamp_ns, lifted.stamp_ns, track, joints, bool(placed), int(method),
                                       None, velocity if np.isfinite(velocity).all() else None)
                            for track, joints, placed, method, velocity in zip(
                                lifted.track_ids, lifted.joints, lifted.placed, lifted.placement, lifted.root_velocity)]
    truth = messages[bag_io.GROUND_TRUTH_TOPIC]
    return RunData(
        predictions=predictions,
        ground_truth={(bag_io.stamp_ns(m.header), int(s.track_id)): skeleton_joints(s)
                      for _, m in truth for s in m.skeletons},
        inputs_per_track=Counter(int(s.track_id) for _, m in keypoints for s in m.skeletons),
        input_stamps={stamp for stamp, _ in keypoints}, output_messages=output_messages,
        sources={bag_io.GROUND_TRUTH_TOPIC: str(bag), bag_io.KEYPOINTS_TOPIC: str(bag)},
        true_velocity={(bag_io.stamp_ns(m.header), int(s.track_id)): np.array(
            [s.root_velocity.x, s.root_velocity.y, s.root_velocity.z]) for _, m in truth for s in m.skeletons
            if s.has_velocity})
