"""make_bag --rgbd: an aligned 16UC1 depth image per frame, consistent with the ground truth and the camera_info,
joints hidden behind occluders lose their 2D confidence; placement_eval scores it with and without depth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.streaming.depth import decode_depth
from mpm_ros.bags import bag_io
from mpm_ros.bags import rgbd_scene
from mpm_ros.bags.make_bag import make_bag


@pytest.fixture(scope="module")
def rgbd_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rgbd")
    write_mocap(base / "clip.npz", synthetic_sequences(2, 60, fps=30.0, seed=0))
    counts = make_bag(base / "clip.npz", base / "bag", people=2, fps=10.0, duration=1.0, rgbd=True, occluders=2,
                      all_visible=True, seed=3)
    assert counts[bag_io.DEPTH_TOPIC] == counts[bag_io.KEYPOINTS_TOPIC] == 10
    return base / "bag"


def test_depth_is_aligned_with_camera_info_and_ground_truth(rgbd_bag: Path) -> None:
    data = bag_io.read_topics(rgbd_bag, [bag_io.DEPTH_TOPIC, bag_io.CAMERA_INFO_TOPIC, bag_io.GROUND_TRUTH_TOPIC])
    offsets = []
    for (_, depth), (_, info), (_, truth) in zip(*data.values()):
        assert bag_io.stamp_ns(depth.header) == bag_io.stamp_ns(info.header) == bag_io.stamp_ns(truth.header)
        assert (depth.encoding, depth.width, depth.height, depth.step) == ("16UC1", info.width, info.height,
                                                                          2 * info.width)
        values, problem = decode_depth(depth.data, depth.encoding, depth.width, depth.height, depth.step)
        assert problem is None
        k = np.asarray(info.k).reshape(3, 3)
        for skeleton in truth.skeletons:
            pelvis = np.array([skeleton.joints[0].x, skeleton.joints[0].y, skeleton.joints[0].z])
            u, v = np.rint(pelvis[:2] / pelvis[2] * [k[0, 0], k[1, 1]] + k[:2, 2]).astype(int)
            if 0 <= u < info.width and 0 <= v < info.height and np.isfinite(values[v, u]):
                offsets.append(pelvis[2] - values[v, u])
    offsets = np.array(offsets)
    assert len(offsets) >= 10
    # The body's surface in front of the pelvis (~0.12 m), unless something nearer passes in front.
    assert 0.03 < np.median(offsets) < 0.25, offsets


def test_joints_behind_occluders_are_hidden_from_2d(rgbd_bag: Path) -> None:
    keypoints = bag_io.read_topics(rgbd_bag, [bag_io.KEYPOINTS_TOPIC])[bag_io.KEYPOINTS_TOPIC]
    confidences = np.array([[k.confidence for k in s.keypoints] for _, m in keypoints for s in m.skeletons])
    assert 0.0 < (confidences == 0).mean() < 0.9


def test_placement_eval_finds_the_floor_in_the_bags_tf_static(rgbd_bag: Path) -> None:
    """The floor a real install's node looks up from the replayed /tf_static is the RGB-D mount's (the parameters'
    ground_camera_height / _pitch floor); a bag without /tf_static has none."""
    from mpm_model.streaming.ground import floor_from_pitch
    from mpm_ros.bags.placement_eval import bag_floor

    floor, given = bag_floor(rgbd_bag), floor_from_pitch(rgbd_scene.CAMERA_HEIGHT_M, rgbd_scene.CAMERA_PITCH_DEG)
    assert floor.height == pytest.approx(given.height) and floor.normal == pytest.approx(given.normal, abs=1e-9)
    assert bag_floor(rgbd_bag, ground_frame="odom") is None


def test_placement_eval_matches_depth_as_the_node_does(rgbd_bag: Path, tmp_path: Path) -> None:
    """placement_eval goes through DepthHistory: the bag's aligned depth places skeletons; the same bag with its
    depth images in another frame_id places none with depth (depth.frame_mismatch), as in the node."""
    from mpm_model.deploy.backends import create_backend
    from mpm_ros.bags.placement_eval import evaluate

    backend = create_backend("torch", checkpoint="mpm_t27_causal", device="cpu")
    aligned = evaluate(rgbd_bag, backend, True, {})
    assert aligned["by_method"]["depth"]["count"] > 0 and not aligned["counts"].get("depth.frame_mismatch")
    other, store = tmp_path / "other", bag_io.typestore()
    writer = bag_io.open_writer(other)
    try:
        connections = {}
        for topic, msgtype, log_time, raw in bag_io.iter_raw(rgbd_bag):
            if topic == bag_io.DEPTH_TOPIC:  # the same images, said to come from another camera
                msg = store.deserialize_cdr(raw, msgtype)
                msg.header.frame_id = "other_cam_optical"
                raw = store.serialize_cdr(msg, msgtype)
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], log_time, raw)
    finally:
        writer.close()
    moved = evaluate(other, backend, True, {})
    assert moved["by_method"]["depth"]["count"] == 0 and moved["counts"]["depth.frame_mismatch"] > 0, moved["counts"]
