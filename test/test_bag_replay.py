"""replay → record round trip across two processes: replay runs as a subprocess, this process subscribes
(and echoes a Skeleton3DArray per input frame, standing in for the lifter) over real DDS."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from mpm_model.data.mocap import write_mocap  # noqa: E402
from mpm_model.data.synthetic import synthetic_sequences  # noqa: E402
from mpm_ros.bags import bag_io  # noqa: E402
from mpm_ros.bags.make_bag import make_bag  # noqa: E402
from mpm_ros.bags.replay import available, publish_qos  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FPS = 10.0
FRAMES = 20


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("replay")
    write_mocap(base / "clip.npz", synthetic_sequences(2, 60, fps=30.0, seed=1))
    make_bag(base / "clip.npz", base / "in_bag", people=2, fps=FPS, duration=FRAMES / FPS, dropout=0.0, seed=2)
    return base / "in_bag"


class Peer:
    """In-process subscriber to the replayed topics that echoes /keypoints frames on /skeletons3d."""

    def __init__(self) -> None:
        from mpm_msgs.msg import Skeleton2DArray, Skeleton3D, Skeleton3DArray
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("replay_test_peer", context=self.context)
        self.keypoints: list[Any] = []
        self.ground_truth: list[Any] = []
        echo = self.node.create_publisher(Skeleton3DArray, "/skeletons3d", 100)

        def on_keypoints(msg: Any) -> None:
            self.keypoints.append(msg)
            echo.publish(Skeleton3DArray(header=msg.header, skeletons=[
                Skeleton3D(track_id=s.track_id) for s in msg.skeletons]))

        self.node.create_subscription(Skeleton2DArray, "/keypoints", on_keypoints, 100)
        self.node.create_subscription(Skeleton3DArray, "/ground_truth/skeletons3d", self.ground_truth.append, 100)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def peer() -> Any:
    p = Peer()
    yield p
    p.close()


def _replay(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mpm_ros.bags.replay", *args], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _original(bag: Path, topic: str) -> list[Any]:
    return [m for _, m in bag_io.read_topics(bag, [topic])[topic]]


def test_restamped_round_trip_with_recording(bag: Path, peer: Peer, tmp_path: Path) -> None:
    out = tmp_path / "out_bag"
    started = time.time_ns()
    proc = _replay("--bag", str(bag), "--record", str(out), "--record-topics", "/skeletons3d", "--drain", "3")
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log
    assert "replay done" in log
    if available(bag_io.TF_MESSAGE_TYPE):  # a real ROS install: the camera's mount goes out latched
        assert "'/tf_static': 1" in log, log
    else:  # this venv has no tf2_msgs: said, and the rest still plays
        assert "skipped=['/tf_static'] (no message class here)" in log and "not publishing /tf_static" in log, log

    original = _original(bag, "/keypoints")
    assert len(peer.keypoints) == FRAMES, f"received {len(peer.keypoints)} of {FRAMES} keypoint frames\n{log}"
    got = [bag_io.stamp_ns(m.header) for m in peer.keypoints]
    want = [bag_io.stamp_ns(m.header) for m in original]
    offset = got[0] - want[0]
    assert [g - w for g, w in zip(got, want)] == [offset] * FRAMES, "relative timing of stamps must be kept"
    assert started <= got[0] <= time.time_ns(), "stamps must be re-stamped to the replay's wall clock"
    assert [[s.track_id for s in m.skeletons] for m in peer.keypoints] == \
           [[s.track_id for s in m.skeletons] for m in original]
    gt_stamps = [bag_io.stamp_ns(m.header) for m in peer.ground_truth]
    assert gt_stamps == got, "ground truth must be shifted exactly like the inputs"

    recorded = bag_io.read_topics(out, ["/keypoints", "/ground_truth/skeletons3d", "/camera_info", "/skeletons3d"])
    assert {t: len(v) for t, v in recorded.items()} == {t: FRAMES for t in recorded}
    assert [bag_io.stamp_ns(m.header) for _, m in recorded["/keypoints"]] == got
    outputs = recorded["/skeletons3d"]
    assert sorted(bag_io.stamp_ns(m.header) for _, m in outputs) == got
    assert all(receive >= bag_io.stamp_ns(m.header) for receive, m in outputs), "receive time before source stamp"
    assert all(receive - bag_io.stamp_ns(m.header) < 1e9 for receive, m in outputs), "latency above 1 s on localhost"
    elapsed = (outputs[-1][0] - outputs[0][0]) / 1e9
    assert elapsed == pytest.approx((FRAMES - 1) / FPS, abs=0.3), "replay must keep the original timing"


def test_keep_stamps_rate_and_topic_filter(bag: Path, peer: Peer) -> None:
    began = time.monotonic()
    proc = _replay("--bag", str(bag), "--keep-stamps", "--rate", "2", "--topics", "/keypoints")
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log
    assert [bag_io.stamp_ns(m.header) for m in peer.keypoints] == \
           [bag_io.stamp_ns(m.header) for m in _original(bag, "/keypoints")]
    assert peer.ground_truth == [], "--topics /keypoints must publish nothing else"
    assert time.monotonic() - began < 0.5 * FRAMES / FPS + 8.0


def test_sigint_stops_loop_and_closes_bag(bag: Path, peer: Peer, tmp_path: Path) -> None:
    out = tmp_path / "looped"
    proc = _replay("--bag", str(bag), "--loop", "--record", str(out), "--record-topics", "", "--storage", "sqlite3")
    deadline = time.monotonic() + 30
    while len(peer.keypoints) < FRAMES + 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert len(peer.keypoints) >= FRAMES + 5, "the loop did not wrap around"
    proc.send_signal(signal.SIGINT)
    log, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, log
    assert "replay interrupted" in log
    assert (out / "metadata.yaml").is_file(), "the output bag was not closed"
    stamps = [bag_io.stamp_ns(m.header) for _, m in bag_io.read_topics(out, ["/keypoints"])["/keypoints"]]
    assert len(stamps) >= FRAMES + 5 and stamps == sorted(stamps), "looped stamps must keep increasing"


def test_tf_static_is_published_latched_and_the_rest_as_before() -> None:
    """tf2's static listener takes /tf_static only from a transient-local publisher; other topics stay volatile."""
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    static, keypoints = publish_qos(bag_io.TF_STATIC_TOPIC), publish_qos(bag_io.KEYPOINTS_TOPIC)
    assert (static.durability, static.depth, static.reliability) == (
        DurabilityPolicy.TRANSIENT_LOCAL, 1, ReliabilityPolicy.RELIABLE)
    assert (keypoints.durability, keypoints.depth) == (DurabilityPolicy.VOLATILE, 100)
    assert available(bag_io.SKELETON2D_ARRAY_TYPE)
    assert not available("no_such_msgs/msg/Nothing")


def test_bad_arguments_exit_with_message(bag: Path, tmp_path: Path) -> None:
    proc = _replay("--bag", str(tmp_path / "missing"))
    assert proc.communicate(timeout=30)[0].strip().endswith("does not exist") and proc.returncode != 0
    proc = _replay("--bag", str(bag), "--record", str(bag))
    assert "exists already" in proc.communicate(timeout=30)[0] and proc.returncode != 0
