"""make_bag writes a real rosbag2 (mcap and sqlite3) that reads back with the right types, stamps and tracks."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.streaming.frames import FrameOptions
from mpm_model.streaming.ground import floor_from_transform
from mpm_ros.bags import bag_io
from mpm_ros.bags.make_bag import START_TIME_NS, make_bag

FEET_M = 0.08  # synthetic_sequences' ankles above the floor (z = 0)

FPS = 15.0
DURATION = 4.0
FRAMES = int(FPS * DURATION)


@pytest.fixture(scope="module")
def mocap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mocap") / "clip.npz"
    write_mocap(path, synthetic_sequences(2, 150, fps=50.0, seed=3))  # 50 Hz source: make_bag must resample
    return path


@pytest.fixture(scope="module")
def bag(mocap: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "three_people"
    make_bag(mocap, out, people=3, fps=FPS, noise_px=1.5, occlusion=0.15, dropout=0.1, duration=DURATION, seed=5)
    return out


def test_topics_types_counts_and_common_stamps(bag: Path) -> None:
    assert bag_io.bag_topics(bag) == {
        "/camera_info": "sensor_msgs/msg/CameraInfo",
        "/keypoints": "mpm_msgs/msg/Skeleton2DArray",
        "/ground_truth/skeletons3d": "mpm_msgs/msg/Skeleton3DArray",
        "/tf_static": "tf2_msgs/msg/TFMessage",
    }
    data = bag_io.read_topics(bag, ["/camera_info", "/keypoints", "/ground_truth/skeletons3d"])
    expected = [START_TIME_NS + round(i * 1e9 / FPS) for i in range(FRAMES)]
    for topic, messages in data.items():
        assert len(messages) == FRAMES, topic
        stamps = [bag_io.stamp_ns(m.header) for _, m in messages]
        assert stamps == expected, topic
        assert [t for t, _ in messages] == expected, f"{topic}: log time must equal the header stamp"
        assert {m.header.frame_id for _, m in messages} == {bag_io.FRAME_ID}
    info = data["/camera_info"][0][1]
    assert info.k[0] > 0 and info.k[2] == info.width / 2 and info.distortion_model == "plumb_bob"


def test_tf_static_mounts_the_camera_on_the_nodes_default_floor_frame(bag: Path) -> None:
    """One latched /tf_static at the first stamp: the camera's pose in base_footprint (the node's default
    ground_frame), right above its origin, looking along its x; the floor it gives lies under every ankle."""
    (log_time, msg), = bag_io.read_topics(bag, ["/tf_static"])["/tf_static"]
    (edge,) = msg.transforms
    ground = FrameOptions().ground_frame
    assert log_time == START_TIME_NS and (edge.header.frame_id, edge.child_frame_id) == (ground, bag_io.FRAME_ID)
    assert "durability: transient_local" in (bag / "metadata.yaml").read_text()
    mount = bag_io.static_transform(bag, ground, bag_io.FRAME_ID)
    assert mount.translation[:2] == pytest.approx([0.0, 0.0], abs=1e-9) and mount.translation[2] > 0.5
    axis = mount.rotation[:, 2]  # the optical axis in the floor frame: forward (x), pitched down, no sideways part
    assert axis[0] > 0.9 and axis[1] == pytest.approx(0.0, abs=1e-9) and axis[2] < 0
    floor = floor_from_transform(bag_io.static_transform(bag, bag_io.FRAME_ID, ground))  # as the node looks it up
    assert floor.height == pytest.approx(mount.translation[2])
    truth = np.array([[[p.x, p.y, p.z] for p in s.joints] for _, m in bag_io.read_topics(
        bag, ["/ground_truth/skeletons3d"])["/ground_truth/skeletons3d"] for s in m.skeletons])  # (N, 17, 3)
    above = floor.height - truth @ floor.normal  # (N, 17) metres above the floor
    lowest = above.min(axis=1)  # (N,) the lower ankle (resampling blends a few frames by millimetres)
    assert np.median(lowest) == pytest.approx(FEET_M, abs=1e-4) and lowest == pytest.approx(FEET_M, abs=0.01)
    assert bag_io.static_transform(bag, bag_io.FRAME_ID, "map") is None


def test_absent_topics_read_as_nothing(bag: Path) -> None:
    assert bag_io.read_topics(bag, ["/nothing"]) == {"/nothing": []}
    assert list(bag_io.iter_raw(bag, ["/nothing"])) == []


def test_a_broken_mount_is_a_clear_error(bag: Path, tmp_path: Path) -> None:
    store, broken = bag_io.typestore(), tmp_path / "broken"
    writer = bag_io.open_writer(broken)
    try:
        for topic, msgtype, log_time, raw in bag_io.iter_raw(bag, ["/tf_static"]):
            msg = store.deserialize_cdr(raw, msgtype)
            rotation = msg.transforms[0].transform.rotation
            rotation.x = rotation.y = rotation.z = rotation.w = 0.0
            writer.write(writer.add_connection(topic, msgtype, typestore=store), log_time,
                         store.serialize_cdr(msg, msgtype))
    finally:
        writer.close()
    with pytest.raises(ValueError, match="/tf_static base_footprint -> camera_optical_frame"):
        bag_io.static_transform(broken, bag_io.FRAME_ID, FrameOptions().ground_frame)


def test_tracks_enter_leave_drop_out_and_occlude(bag: Path) -> None:
    data = bag_io.read_topics(bag, ["/keypoints", "/ground_truth/skeletons3d"])
    gt_frames: dict[int, list[int]] = {}
    for frame, (_, msg) in enumerate(data["/ground_truth/skeletons3d"]):
        for s in msg.skeletons:
            gt_frames.setdefault(s.track_id, []).append(frame)
    assert sorted(gt_frames) == [1, 2, 3]
    assert len(gt_frames[1]) == FRAMES, "track 1 is visible for the whole recording"
    assert any(f[0] > 0 or f[-1] < FRAMES - 1 for f in (gt_frames[2], gt_frames[3])), "no track enters or leaves"
    for frames in gt_frames.values():
        assert frames == list(range(frames[0], frames[-1] + 1)), "a ground-truth track must be contiguous"
    in_2d = Counter(s.track_id for _, m in data["/keypoints"] for s in m.skeletons)
    assert sum(in_2d.values()) < sum(len(f) for f in gt_frames.values()), "dropout=0.1 produced no missing person"
    confidences = np.array([[k.confidence for k in s.keypoints] for _, m in data["/keypoints"] for s in m.skeletons])
    assert confidences.shape[1:] == (17,)
    assert 0.05 < (confidences == 0).mean() < 0.5, "occlusion=0.15 should zero roughly that share of joints"
    assert {s.layout for _, m in data["/keypoints"] for s in m.skeletons} == {"h36m17"}


def test_ground_truth_projects_onto_keypoints(bag: Path) -> None:
    """2D keypoints are the ground truth seen through CameraInfo K, plus a few pixels of jitter."""
    data = bag_io.read_topics(bag, ["/keypoints", "/ground_truth/skeletons3d", "/camera_info"])
    k = data["/camera_info"][0][1].k.reshape(3, 3)
    errors = []
    for (_, kp), (_, gt) in zip(data["/keypoints"], data["/ground_truth/skeletons3d"]):
        truth = {s.track_id: s for s in gt.skeletons}
        for s in kp.skeletons:
            joints = np.array([[p.x, p.y, p.z] for p in truth[s.track_id].joints])  # (17, 3)
            assert (joints[:, 2] > 0).all(), "ground truth must be in front of the camera"
            uv = (joints @ k.T)[:, :2] / joints[:, 2:]
            seen = np.array([kp_.confidence > 0 for kp_ in s.keypoints])
            assert list(truth[s.track_id].masked) == list(~seen), "GT masked must mark the joints hidden in 2D"
            observed = np.array([[kp_.x, kp_.y] for kp_ in s.keypoints])
            errors.append(np.linalg.norm(observed - uv, axis=-1)[seen])
    errors = np.concatenate(errors)
    assert np.median(errors) < 4.0, f"median 2D error {np.median(errors):.1f} px for 1.5 px jitter"


def test_definitions_embedded_and_rclpy_reads_the_cdr(bag: Path) -> None:
    """A reader with no mpm_msgs knowledge decodes the bag, and rclpy decodes the same bytes."""
    from rclpy.serialization import deserialize_message

    from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray

    with AnyReader([bag]) as reader:  # no default typestore: only the embedded definitions
        defs = {c.topic: c.msgdef.data for c in reader.connections}
        assert "MSG: mpm_msgs/Keypoint2D" in defs["/keypoints"] and "float32 confidence" in defs["/keypoints"]
        assert "MSG: geometry_msgs/Point" in defs["/ground_truth/skeletons3d"]
        connection = next(c for c in reader.connections if c.topic == "/keypoints")
        _, _, raw = next(reader.messages(connections=[connection]))
        decoded = reader.deserialize(raw, connection.msgtype)
    msg = deserialize_message(bytes(raw), Skeleton2DArray)
    assert [s.track_id for s in msg.skeletons] == [s.track_id for s in decoded.skeletons]
    assert msg.skeletons[0].keypoints[3].x == pytest.approx(float(decoded.skeletons[0].keypoints[3].x))
    _, _, _, raw3d = next(bag_io.iter_raw(bag, ["/ground_truth/skeletons3d"]))
    assert len(deserialize_message(raw3d, Skeleton3DArray).skeletons[0].joints) == 17


def test_sqlite3_storage_and_fps_resampling(mocap: Path, tmp_path: Path) -> None:
    out = tmp_path / "sqlite_bag"
    counts = make_bag(mocap, out, people=1, fps=10.0, duration=1.0, storage="sqlite3", seed=1)
    assert counts == {"/camera_info": 10, "/keypoints": 10, "/ground_truth/skeletons3d": 10, "/tf_static": 1}
    assert list(out.glob("*.db3")), "sqlite3 storage must write a .db3 file"
    stamps = [t for _, _, t, _ in bag_io.iter_raw(out, ["/keypoints"])]
    assert np.diff(stamps).tolist() == [100_000_000] * 9


def test_same_seed_same_bag(mocap: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_bag(mocap, tmp_path / name, people=2, fps=10.0, duration=1.0, seed=9)
    assert list(bag_io.iter_raw(tmp_path / "a")) == list(bag_io.iter_raw(tmp_path / "b"))


@pytest.mark.parametrize("kwargs", [{"people": 0}, {"fps": 0.0}, {"occlusion": 1.5}, {"duration": -1.0}])
def test_bad_arguments_raise_value_error(mocap: Path, tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_bag(mocap, tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()


def test_existing_output_is_not_overwritten(mocap: Path, bag: Path) -> None:
    with pytest.raises(FileExistsError):
        make_bag(mocap, bag, people=1, duration=1.0)


def test_cli_writes_bag(mocap: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mpm_ros.bags.make_bag import main

    main(["--mocap", str(mocap), "--out", str(tmp_path / "cli"), "--people", "1", "--duration", "0.5",
          "--fps", "10", "--storage", "sqlite3"])
    assert "'/keypoints': 5" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="exists already"):
        main(["--mocap", str(mocap), "--out", str(tmp_path / "cli")])
