"""mpm_pose2d in-process with real rclpy and real MediaPipe: stamps, QoS, bad input, parameters, overlay."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
from mpm_msgs.msg import Skeleton2DArray, Skeleton3D, Skeleton3DArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from mpm_model.vision.image import rgb_to_image_fields
from mpm_model.vision.render import render_clip
from mpm_ros import messages
from mpm_ros.pose2d_node import Pose2DNode

from camera_support import slice_clip

T0 = 1_700_000_000_000_000_000
PERIOD = 33_333_333


@pytest.fixture(scope="module")
def clip():
    return render_clip(slice_clip("wave-both-hands", 12), 30.0)


def stamp(msg) -> int:
    return messages.ns_from_time(msg.header.stamp)


class Camera:
    """A driver node: publishes images (best effort or reliable) and records the node's outputs by stamp."""

    def __init__(self, context: rclpy.Context, node: Pose2DNode, reliable_only: bool = False) -> None:
        self.node = rclpy.create_node("fake_camera", context=context)
        self.best_effort = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.reliable = self.node.create_publisher(Image, "image", QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.info = self.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.skeletons3d = self.node.create_publisher(Skeleton3DArray, "skeletons3d", 10)
        self.keypoints: dict[int, Skeleton2DArray] = {}
        self.overlays: dict[int, Image] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(Skeleton2DArray, "keypoints", lambda m: self.keypoints.update({stamp(m): m}), 50)
        self.node.create_subscription(Image, "overlay", lambda m: self.overlays.update({stamp(m): m}), 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 50)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(node)
        waited = (self.reliable,) if reliable_only else (self.reliable, self.best_effort)
        assert self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in waited)
                               and self.node.count_publishers("keypoints") > 0, 15.0)

    def spin_until(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)
        return predicate()

    def send(self, rgb: np.ndarray, stamp: int, publisher=None, encoding_fields: dict | None = None) -> Image:
        msg = Image(**(encoding_fields or rgb_to_image_fields(rgb)))
        msg.header.stamp, msg.header.frame_id = messages.time_from_ns(stamp), "cam"
        (publisher or self.best_effort).publish(msg)
        return msg

    def status(self) -> tuple[int, str, dict[str, str]]:
        """(level, message, values) of the node's next /diagnostics status (other processes may share the domain)."""
        def ours() -> list[DiagnosticArray]:
            return [d for d in self.diagnostics if d.status and d.status[0].name == "mpm_pose2d: detector"]

        self.diagnostics.clear()
        assert self.spin_until(lambda: bool(ours()), 3.0)
        status = ours()[-1].status[0]
        return int.from_bytes(status.level, "little"), status.message, {kv.key: kv.value for kv in status.values}

    def dropped(self) -> dict[str, str]:
        """The drop counters of the node's next /diagnostics message."""
        return {k: v for k, v in self.status()[2].items() if k.startswith("dropped.")}

    def stream(self, count: int, stamp_of=lambda k: T0 + k * PERIOD, fields: dict | None = None) -> None:
        """`count` small images at 30 Hz (64x48 grey unless `fields`), stamped stamp_of(k)."""
        fields = fields or rgb_to_image_fields(np.full((48, 64, 3), 90, np.uint8))
        for k in range(count):
            self.send(None, stamp_of(k), encoding_fields=fields)
            self.spin_until(lambda: False, 1 / 30)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def pose2d(context, **values) -> Pose2DNode:
    return Pose2DNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def test_keypoints_carry_the_image_stamp_from_either_qos(context, clip) -> None:
    node = pose2d(context)
    camera = Camera(context, node)
    try:
        for t in range(6):
            stamp = T0 + t * PERIOD
            camera.send(clip.frames[t], stamp, camera.best_effort if t % 2 else camera.reliable)
            assert camera.spin_until(lambda: stamp in camera.keypoints), f"no keypoints for frame {t}"
        for stamp, msg in camera.keypoints.items():
            assert msg.header.frame_id == "cam" and messages.ns_from_time(msg.header.stamp) == stamp
            assert [s.track_id for s in msg.skeletons] == [1]
            assert msg.skeletons[0].layout == "coco17" and len(msg.skeletons[0].keypoints) == 17
        assert node.stats.dropped() == {}
    finally:
        camera.close()
        node.destroy_node()


def test_bad_images_and_stamps_are_counted_and_the_node_keeps_serving(context, clip) -> None:
    node = pose2d(context)
    camera = Camera(context, node)
    try:
        camera.send(clip.frames[0], T0)
        assert camera.spin_until(lambda: T0 in camera.keypoints)
        deep = dict(height=4, width=4, encoding="16UC1", is_bigendian=0, step=8, data=bytes(32))
        short = rgb_to_image_fields(clip.frames[0]) | {"data": bytes(10)}
        for stamp, fields, reason in ((T0 + PERIOD, deep, "unsupported_encoding"),
                                      (T0 + 2 * PERIOD, short, "bad_image"), (T0, None, "duplicate_stamp")):
            camera.send(clip.frames[1], stamp, encoding_fields=fields)  # one at a time: the mailbox holds one
            assert camera.spin_until(lambda: reason in node.stats.dropped()), reason
        camera.send(clip.frames[2], T0 + 3 * PERIOD)
        assert camera.spin_until(lambda: T0 + 3 * PERIOD in camera.keypoints), "node stopped serving"
        camera.send(clip.frames[3], T0 - 5 * 10**9)  # a bag loop: processed after a detector + tracker reset
        assert camera.spin_until(lambda: T0 - 5 * 10**9 in camera.keypoints) and node.stamp_resets == 1
        dropped = camera.dropped()
        assert {k: dropped.get(k) for k in ("dropped.unsupported_encoding", "dropped.bad_image",
                                             "dropped.duplicate_stamp")} == dict.fromkeys(
            ("dropped.unsupported_encoding", "dropped.bad_image", "dropped.duplicate_stamp"), "1")
        assert len(camera.keypoints) == 3, "a refused image must not produce keypoints"
    finally:
        camera.close()
        node.destroy_node()


@pytest.mark.parametrize("values, reason", [
    ({"detector": "yolo_onnx"}, "needs model_path"),
    ({"model_path": "/nonexistent.task"}, "does not exist"),
    ({"max_people": 0}, "max_people"),
    ({"min_confidence": 1}, "min_confidence"),
    ({"image_reliable": "yes"}, "image_reliable"),
])
def test_invalid_parameters_refuse_configure(context, values, reason, caplog) -> None:
    node = pose2d(context, **values)
    try:
        assert node.lifecycle_state == "unconfigured"
        from mpm_ros import pose2d_params

        errors = list(node._refused.values()) + pose2d_params.validate(pose2d_params.TABLE.read(node))
        assert any(reason in e for e in errors), errors
    finally:
        node.destroy_node()


def skeletons3d_for(stamp: int, joints: np.ndarray) -> Skeleton3DArray:
    msg = Skeleton3DArray()
    msg.header.stamp = messages.time_from_ns(stamp)
    msg.skeletons = [Skeleton3D(track_id=1, joints=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in joints],
                                confidence=[0.9] * 17, masked=[False] * 17)]
    return msg


def test_overlay_waits_for_3d_by_stamp_then_falls_back_to_2d(context, clip) -> None:
    node = pose2d(context, publish_overlay=True, overlay_wait_frames=2)
    camera = Camera(context, node)
    info = CameraInfo(width=clip.camera.width, height=clip.camera.height, k=clip.camera.intrinsics.ravel().tolist())
    try:
        assert camera.spin_until(lambda: camera.skeletons3d.get_subscription_count() > 0)
        camera.info.publish(info)
        camera.spin_until(lambda: False, 0.2)
        camera.send(clip.frames[0], T0)
        assert camera.spin_until(lambda: T0 in camera.keypoints)
        assert T0 not in camera.overlays, "the overlay must wait for the 3D of its frame"
        camera.skeletons3d.publish(skeletons3d_for(T0, clip.joints_cam[0]))
        assert camera.spin_until(lambda: T0 in camera.overlays)
        overlay = camera.overlays[T0]
        drawn = np.frombuffer(overlay.data, np.uint8).reshape(overlay.height, overlay.width, 3)
        assert overlay.encoding == "rgb8" and (drawn != clip.frames[0]).any(axis=-1).sum() > 200
        marker_rgb = np.round(np.array(messages.track_color(1)) * 255).astype(np.uint8)
        assert (drawn == marker_rgb).all(axis=-1).sum() > 50, "track 1 is not drawn in its RViz marker colour"
        for t in (1, 2, 3):  # no 3D for these: the oldest leaves 2D-only once more than 2 wait
            camera.send(clip.frames[t], T0 + t * PERIOD)
            assert camera.spin_until(lambda: T0 + t * PERIOD in camera.keypoints)
        assert camera.spin_until(lambda: T0 + PERIOD in camera.overlays)
        assert node.stats.dropped().get("overlay_without_3d") == 1
    finally:
        camera.close()
        node.destroy_node()


def test_runtime_parameter_changes_are_validated(context) -> None:
    node = pose2d(context, autostart=False)
    try:
        assert not node.set_parameters([Parameter("max_people", value=100)])[0].successful  # out of range
        assert not node.set_parameters([Parameter("image_reliable", value="yes")])[0].successful  # not a bool
        bad = node.set_parameters([Parameter("detector", value="yolo_onnx")])[0]
        assert not bad.successful and "needs model_path" in bad.reason
        assert node.set_parameters([Parameter("max_people", value=2)])[0].successful  # unconfigured: allowed
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        result = node.set_parameters([Parameter("max_people", value=3)])[0]
        assert not result.successful and "read at configure" in result.reason
    finally:
        node.destroy_node()


def test_process_help_and_failed_autostart_exit_codes() -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mpm_ros.pose2d_node", *args], capture_output=True, text=True,
                              timeout=60)

    shown = run("--help")
    assert shown.returncode == 0 and "keypoints" in shown.stdout
    failed = run("--ros-args", "-p", "detector:=yolo_onnx")
    assert failed.returncode == 1 and "needs model_path" in failed.stderr + failed.stdout


def test_diagnostics_name_why_nothing_comes_out(context, clip) -> None:
    """No image yet, then a person, then rgba8 at 30 Hz: WARN naming the refusal, the people count of the latest
    image (not of the last good one); then stamps that are all 0: ERROR naming zero_stamp."""
    node = pose2d(context)
    camera = Camera(context, node)
    try:
        level, message, _ = camera.status()
        assert level == 1 and message == "no image has arrived on '/image' since activation"
        camera.send(clip.frames[0], T0)
        assert camera.spin_until(lambda: T0 in camera.keypoints)
        assert camera.status()[2]["people_last_frame"] == "1"
        rgba = dict(height=48, width=64, encoding="rgba8", is_bigendian=0, step=256, data=bytes(48 * 256))
        camera.stream(20, lambda k: T0 + (k + 1) * PERIOD, rgba)
        level, message, values = camera.status()
        assert level >= 1 and "unsupported_encoding" in message, message  # (some may be detector_busy)
        assert values["people_last_frame"] == "0"
    finally:
        camera.close()
        node.destroy_node()
    node = pose2d(context)
    camera = Camera(context, node)
    try:
        camera.stream(20, lambda k: 0)
        level, message, values = camera.status()
        assert level == 2 and "all refused (zero_stamp" in message, message
        assert not camera.keypoints
    finally:
        camera.close()
        node.destroy_node()


def test_images_lost_on_the_way_are_inferred_from_stamp_gaps(context) -> None:
    node = pose2d(context)
    camera = Camera(context, node)
    try:
        sent = [k for k in range(45) if k % 3 != 1]  # every third image of a 30 Hz camera never arrives
        camera.stream(len(sent), lambda i: T0 + sent[i] * PERIOD)
        level, message, values = camera.status()
        assert level >= 1 and "images lost before reaching the node" in message, message
        assert int(values["images_lost_before_node"]) >= 12 and values["camera_rate_hz"] == "30.00"
    finally:
        camera.close()
        node.destroy_node()


def test_image_reliable_takes_reliable_cameras_and_counts_best_effort_ones(context, clip) -> None:
    node = pose2d(context, image_reliable=True)
    camera = Camera(context, node, reliable_only=True)
    try:
        camera.send(clip.frames[0], T0, camera.reliable)
        assert camera.spin_until(lambda: T0 in camera.keypoints)
        assert camera.spin_until(lambda: "image.incompatible_qos" in node.stats.dropped())
        camera.send(clip.frames[1], T0 + PERIOD, camera.best_effort)
        camera.spin_until(lambda: False, 0.5)
        assert T0 + PERIOD not in camera.keypoints and node.images_received == 1
    finally:
        camera.close()
        node.destroy_node()


def test_close_stamps_and_camera_info_problems_are_named(context, clip, capfd) -> None:
    """Images within one millisecond: stamp_too_close (not out_of_order_stamp); a camera_info with fx 0: warned in
    plain numbers; a camera_info of another size than the images: counted, warned, its K not used."""
    node = pose2d(context, publish_overlay=True, overlay_wait_frames=1)
    camera = Camera(context, node)
    try:
        for stamp in (T0, T0 + 100_000):
            camera.send(clip.frames[0], stamp)
            camera.spin_until(lambda: stamp in camera.keypoints, 3.0)
        assert camera.spin_until(lambda: "stamp_too_close" in node.stats.dropped())
        assert "out_of_order_stamp" not in node.stats.dropped()
        w, h, k = clip.camera.width, clip.camera.height, clip.camera.intrinsics
        camera.info.publish(CameraInfo(width=w, height=h, k=[0.0, 0, k[0, 2], 0, 0.0, k[1, 2], 0, 0, 1]))
        assert camera.spin_until(lambda: "invalid_camera_info" in node.stats.dropped())
        camera.info.publish(CameraInfo(width=2 * w, height=2 * h, k=(k * [[2], [2], [1]]).ravel().tolist()))
        camera.spin_until(lambda: node._camera_info is not None)
        camera.send(clip.frames[1], T0 + PERIOD)
        assert camera.spin_until(lambda: T0 + PERIOD in camera.keypoints)
        camera.skeletons3d.publish(skeletons3d_for(T0 + PERIOD, clip.joints_cam[1]))
        assert camera.spin_until(lambda: T0 + PERIOD in camera.overlays)
        overlay = camera.overlays[T0 + PERIOD]
        drawn = np.frombuffer(overlay.data, np.uint8).reshape(overlay.height, overlay.width, 3)
        dark = (np.array(messages.track_color(1)) * 255).round().astype(int) * 0.55
        assert (drawn == dark.astype(np.uint8)).all(axis=-1).sum() == 0, "3D reprojected through another size's K"
        assert node.stats.masked() == {"camera_info_size_mismatch": 1}
        level, message, _ = camera.status()
        assert level >= 1 and f"camera_info {2 * w}x{2 * h}, image {w}x{h}" in message, message
        log = capfd.readouterr().err
        assert "ignoring camera_info: fx=0 px" in log and "np.float64" not in log
        assert "in the same millisecond" in log and f"camera_info is {2 * w}x{2 * h} but the image is" in log
    finally:
        camera.close()
        node.destroy_node()
