"""Shared helpers for the node tests: tiny checkpoints, a projected synthetic walker, and an rclpy test driver."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray, Skeleton3DArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import MarkerArray

from mpm_model.data.camera import look_at
from mpm_model.data.synthetic import synthetic_sequence
from mpm_model.untrained import random_checkpoint, tiny_config
from mpm_ros.lift_node import LifterNode

WIDTH, HEIGHT, FOCAL = 1000, 1000, 1145.0
K = np.array([[FOCAL, 0, WIDTH / 2], [0, FOCAL, HEIGHT / 2], [0, 0, 1.0]])
FPS = 30.0
FRAME_ID = "test_camera_optical"
T0_NS = 1_700_000_000_123_456_789


def tiny_checkpoint(directory: Path, window: int = 9, causal: bool = True, lookahead: int = 0) -> Path:
    """A random-init TINY lifter (never used to judge accuracy)."""
    path = Path(directory) / f"tiny_t{window}_{'causal' if causal else 'centred'}{lookahead}.pt"
    return random_checkpoint(path, tiny_config(window, causal, lookahead))


def walking_pixels(num_frames: int, seed: int = 0) -> np.ndarray:
    """(num_frames, 17, 2) pixels of a procedural walker seen by a camera 6 m away."""
    world = synthetic_sequence(num_frames, FPS, np.random.default_rng(seed))  # (T, 17, 3), z up
    target = world[:, 0].mean(axis=0)
    position = target + np.array([0.0, -6.0, 0.5])
    rotation = look_at(position, target)
    camera = (world - position) @ rotation.T  # (T, 17, 3) camera frame
    return camera[..., :2] / camera[..., 2:3] * FOCAL + [WIDTH / 2, HEIGHT / 2]


def stamp_ns(frame: int) -> int:
    return T0_NS + int(round(frame * 1e9 / FPS))


def skeleton_array(stamp: int, tracks: dict[int, np.ndarray], confidence: dict[int, np.ndarray] | None = None,
                   layout: str = Skeleton2D.LAYOUT_H36M17) -> Skeleton2DArray:
    msg = Skeleton2DArray()
    msg.header.frame_id = FRAME_ID
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
    for track_id, pixels in tracks.items():
        conf = (confidence or {}).get(track_id, np.full(len(pixels), 0.9))
        msg.skeletons.append(Skeleton2D(track_id=track_id, layout=layout, keypoints=[
            Keypoint2D(x=float(x), y=float(y), confidence=float(c)) for (x, y), c in zip(pixels, conf)]))
    return msg


def camera_info() -> CameraInfo:
    msg = CameraInfo(width=WIDTH, height=HEIGHT)
    msg.header.frame_id = FRAME_ID
    msg.k = K.reshape(-1).tolist()
    return msg


class Driver:
    """A second node in the same context that feeds the lifter and records everything it publishes."""

    def __init__(self, context: rclpy.Context, lifter=None) -> None:
        self.node = rclpy.create_node("test_driver", context=context)
        self.keypoints = self.node.create_publisher(Skeleton2DArray, "keypoints", qos_profile_sensor_data)
        self.camera = self.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.skeletons: list[Skeleton3DArray] = []
        self.markers: list[MarkerArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.logs: list[Log] = []  # /rosout: what every node of the context logged
        self.node.create_subscription(Skeleton3DArray, "skeletons3d", self.skeletons.append, 100)
        self.node.create_subscription(MarkerArray, "markers", self.markers.append, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 100)
        self.node.create_subscription(Log, "/rosout", self.logs.append, QoSProfile(
            depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        if lifter is not None:
            self.executor.add_node(lifter)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def wait_connected(self, timeout: float = 30.0) -> None:
        assert self.spin_until(lambda: self.keypoints.get_subscription_count() > 0
                               and self.camera.get_subscription_count() > 0
                               and self.node.count_publishers("skeletons3d") > 0, timeout), "lifter not discovered"

    def send_camera_info(self, lifter, timeout: float = 5.0) -> None:
        """Publish the test camera_info and spin until the lifter holds it."""
        self.camera.publish(camera_info())
        assert self.spin_until(lambda: lifter._camera.info is not None, timeout), "camera_info not received"

    def send(self, msg: Skeleton2DArray, expect_outputs: int | None = None, timeout: float = 10.0) -> None:
        """Publish and, when expect_outputs is given, spin until that many Skeleton3DArray arrived in total."""
        self.keypoints.publish(msg)
        if expect_outputs is not None:
            assert self.spin_until(lambda: len(self.skeletons) >= expect_outputs, timeout), \
                f"expected {expect_outputs} outputs, got {len(self.skeletons)}"

    def log_lines(self, name: str = "mpm_lifter") -> list[str]:
        """Messages `name` logged so far (spin first to receive them)."""
        return [log.msg for log in self.logs if log.name == name]

    def diagnostic_values(self) -> dict[str, str]:
        """Key/values of the newest /diagnostics status."""
        return {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values} if self.diagnostics else {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def lifter_overrides(checkpoint: Path | str, **values) -> list[Parameter]:
    base = {"checkpoint": str(checkpoint), "backend": "torch", "device": "cpu"}
    return [Parameter(name, value=value) for name, value in (base | values).items()]


@contextmanager
def lifter_node(context: rclpy.Context, checkpoint: Path | str, **values) -> Iterator[LifterNode]:
    """A LifterNode with these parameter overrides, destroyed on exit."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, **values))
    try:
        yield lifter
    finally:
        lifter.destroy_node()
