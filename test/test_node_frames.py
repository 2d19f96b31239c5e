"""The lifter in-process with real rclpy: outputs in target_frame through the static extrinsic (header, joints,
orientations, markers), the per-person TF tree through a look-alike broadcaster and tf2 lookups through a
look-alike Buffer (tf2_msgs / tf2_ros are not installed here: a ROS 2 install runs the real ones), and every bad
frame parameter refused at configure and at runtime set."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import TransformStamped  # noqa: E402
from mpm_msgs.msg import Skeleton3D  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from mpm_model.rotations import quaternion_multiply  # noqa: E402
from mpm_model.streaming.frames import FrameOptions, Transform  # noqa: E402
from mpm_ros import tf_output  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import (FRAME_ID, Driver, lifter_overrides, skeleton_array, stamp_ns, tiny_checkpoint,  # noqa: E402
                          walking_pixels)

EXAMPLE = (0.1, 0.0, 1.2, -0.5, 0.5, -0.5, 0.5)  # the optical frame 1.2 m up looking along +x
PLACING = dict(focal_length=1145.0, image_width=1000, image_height=1000)  # placed without camera_info


def start(context, checkpoint, **values) -> tuple[LifterNode, Driver]:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, **values))
    assert lifter.lifecycle_state == "active"
    driver = Driver(context, lifter)
    driver.wait_connected()
    return lifter, driver


def feed(driver: Driver, frames: range, tracks: tuple[int, ...] = (1,)) -> None:
    walker = walking_pixels(max(frames) + 1)
    for frame in frames:
        driver.send(skeleton_array(stamp_ns(frame), {t: walker[frame] + 40 * t for t in tracks}),
                    expect_outputs=len(driver.skeletons) + 1)


def joints(msg) -> np.ndarray:
    return np.array([[[p.x, p.y, p.z] for p in s.joints] for s in msg.skeletons])  # (B, J, 3)


def quaternions(msg) -> np.ndarray:
    return np.array([[[q.x, q.y, q.z, q.w] for q in s.orientations] for s in msg.skeletons])  # (B, J, 4)


def run(context, checkpoint, **values) -> Driver:
    lifter, driver = start(context, checkpoint, **PLACING, **values)
    try:
        feed(driver, range(5))
        driver.spin_until(lambda: len(driver.markers) >= 5, 5.0)
    finally:
        driver.close()
        lifter.destroy_node()
    return driver


def test_static_extrinsic_moves_skeletons_orientations_and_markers(context, tmp_path) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    camera = run(context, checkpoint)
    robot = run(context, checkpoint, target_frame="base_link", camera_to_target=EXAMPLE)
    t = Transform.from_pose(EXAMPLE)
    assert {m.header.frame_id for m in camera.skeletons} == {FRAME_ID}
    assert {m.header.frame_id for m in robot.skeletons} == {"base_link"}
    for before, after in zip(camera.skeletons, robot.skeletons):
        assert after.skeletons[0].placement == Skeleton3D.REPROJECTION
        np.testing.assert_allclose(joints(after), joints(before) @ t.rotation.T + t.translation, atol=1e-6)
        np.testing.assert_allclose(quaternions(after), quaternion_multiply(t.quaternion, quaternions(before)),
                                   atol=1e-6)
        b, a = before.skeletons[0], after.skeletons[0]
        assert a.has_velocity == b.has_velocity
        v = lambda s: np.array([s.root_velocity.x, s.root_velocity.y, s.root_velocity.z])  # noqa: E731
        np.testing.assert_allclose(v(a), t.rotation @ v(b), atol=1e-6)  # a direction: rotated only
        cov = lambda s: np.asarray(s.root_covariance).reshape(3, 3)  # noqa: E731
        np.testing.assert_allclose(cov(a), t.rotation @ cov(b) @ t.rotation.T, atol=1e-9)
    assert any(m.skeletons[0].has_velocity for m in robot.skeletons), "the root state gave a velocity to rotate"
    assert joints(robot.skeletons[0])[0, 0, 0] > 0.1 + 0.3, "a person in front of the camera (at x = 0.1) is ahead"
    spheres = [m for a in robot.markers for m in a.markers if m.type == Marker.SPHERE_LIST]
    assert spheres and {m.header.frame_id for m in spheres} == {"base_link"}
    labels = [m for a in robot.markers for m in a.markers if m.type == Marker.TEXT_VIEW_FACING]
    head = joints(robot.skeletons[-1])[0, 10]
    assert labels[-1].pose.position.z == pytest.approx(head[2] + 0.25)  # above the head: +z in base_link


class Recorder:
    """A publisher look-alike."""

    def __init__(self) -> None:
        self.sent: list = []

    def publish(self, msg) -> None:
        self.sent.append(msg)


def test_publish_tf_broadcasts_a_tree_per_person_until_the_track_expires(context, tmp_path, monkeypatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(tf_output, "tf_broadcaster", lambda create, qos: tf_output.TfBroadcaster(
        recorder, lambda transforms: NS(transforms=transforms)))  # tf2_msgs/TFMessage look-alike
    lifter, driver = start(context, tiny_checkpoint(tmp_path), publish_tf=True, track_timeout=0.2, **PLACING)
    try:
        feed(driver, range(3), tracks=(1, 2))
        children = {t.child_frame_id for msg in recorder.sent for t in msg.transforms}
        assert {"body_1", "r_wrist_1", "head_2", "l_ankle_2"} <= children and len(children) == 34
        first = recorder.sent[-1].transforms
        assert all(isinstance(t, TransformStamped) for t in first)
        parents = {t.child_frame_id: t.header.frame_id for t in first}
        assert parents["body_1"] == FRAME_ID and parents["r_wrist_1"] == "r_elbow_1"
        feed(driver, range(3, 12), tracks=(2,))  # track 1 gone for 0.3 s > track_timeout
        assert {t.child_frame_id for t in recorder.sent[-1].transforms} == {n for n in children if n.endswith("_2")}
    finally:
        driver.close()
        lifter.destroy_node()


class LookAlikeBuffer:
    """tf2_ros.Buffer look-alike: a transform at stamps up to `until_ns`, after that only an older latest one."""

    def __init__(self, until_ns: int) -> None:
        self.until_ns = until_ns

    def lookup_transform(self, target, source, time, timeout) -> TransformStamped:
        latest = time.nanoseconds == 0
        if not latest and time.nanoseconds > self.until_ns:
            raise LookupError(f"extrapolation into the future ({source} → {target})")
        found = TransformStamped(child_frame_id=source)
        found.header.frame_id = target
        stamp = self.until_ns if latest else time.nanoseconds
        found.header.stamp.sec, found.header.stamp.nanosec = divmod(stamp, 10**9)
        found.transform.translation.x, found.transform.translation.z = 0.1, 1.2
        found.transform.rotation.x, found.transform.rotation.y, found.transform.rotation.z, \
            found.transform.rotation.w = EXAMPLE[3:]
        return found


def test_tf_lookup_at_the_source_stamp_and_a_too_old_transform_drops(context, tmp_path, monkeypatch) -> None:
    def look_alike_time(nanoseconds: int = 0) -> NS:
        return NS(nanoseconds=nanoseconds)

    monkeypatch.setattr(tf_output, "tf_lookup", lambda node: tf_output.TfLookup(
        LookAlikeBuffer(stamp_ns(4)), look_alike_time, lambda seconds: seconds))
    lifter, driver = start(context, tiny_checkpoint(tmp_path), target_frame="base_link", tf_lookup=True,
                           tf_max_age=0.1, **PLACING)
    try:
        feed(driver, range(5))
        assert {m.header.frame_id for m in driver.skeletons} == {"base_link"}
        walker = walking_pixels(12)
        for frame in range(5, 12):  # 0.033 .. 0.23 s past the last transform: 3 in tf_max_age, then dropped
            answered = len(driver.skeletons) + lifter.stats.dropped().get("tf_too_old", 0)
            driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}))
            assert driver.spin_until(lambda: len(driver.skeletons) + lifter.stats.dropped().get("tf_too_old", 0)
                                     > answered)
        assert lifter.stats.dropped().get("tf_too_old", 0) == 4 and len(driver.skeletons) == 8
        assert driver.spin_until(lambda: any("tf_max_age" in line for line in driver.log_lines()))
        too_old = [line for line in driver.log_lines() if "tf_max_age" in line]
        assert sum("→ base_link" in line for line in too_old) == 1, "warned once per cause"
        assert sum("no floor for ground_plane" in line for line in too_old) <= 1, "the floor's lookup: its own cause"
    finally:
        driver.close()
        lifter.destroy_node()


@pytest.mark.parametrize("name, module", [("tf_lookup", "tf2_ros"), ("publish_tf", "tf2_msgs")])
def test_tf_needs_a_ros_install_and_says_so(context, tmp_path, name, module) -> None:
    pytest.importorskip("importlib").util.find_spec(module) is None or pytest.skip(f"{module} is installed")
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(
        tiny_checkpoint(tmp_path), **{name: True, "target_frame": "base_link"}))
    try:
        assert lifter.lifecycle_state == "unconfigured"
    finally:
        lifter.destroy_node()


INVALID = [
    ("camera_to_target", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0), "norm"),  # non-unit quaternion
    ("camera_to_target", (0.0, 0.0, 0.0, float("nan"), 0.0, 0.0, 1.0), "finite"),  # NaN quaternion
    ("camera_to_target", (float("inf"), 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), "not finite"),  # non-finite translation
    ("camera_to_target", (0.0, 0.0, 1.0, 0.0, 0.0, 1.0), "expected 7"),
    ("target_frame", "/base_link", "not a valid TF frame id"),
    ("target_frame", "base link", "not a valid TF frame id"),
    ("target_frame", "base_link", "neither tf_lookup nor camera_to_target"),  # no way to reach it
    ("tf_timeout", -0.1, "out of range"),
    ("tf_max_age", 11.0, "out of range"),
    ("ground_frame", "/base_footprint", "not a valid TF frame id"),
]
IDS = [f"{n}={v!r}" for n, v, _ in INVALID]


@pytest.mark.parametrize("name, value, words", INVALID, ids=IDS)
def test_invalid_frame_parameter_refuses_configure(context, tmp_path, name, value, words) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(
        tiny_checkpoint(tmp_path), autostart=False, **{name: value}))
    try:
        values, errors = lifter._read_parameters()
        assert any(words in e for e in errors), errors
        assert lifter.trigger_configure().name == "FAILURE" and lifter.lifecycle_state == "unconfigured"
    finally:
        lifter.destroy_node()


@pytest.mark.parametrize("name, value, words", INVALID, ids=IDS)
def test_invalid_frame_parameter_refused_at_runtime(context, tmp_path, name, value, words) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    try:
        assert lifter.lifecycle_state == "active"
        before = lifter.get_parameter(name).value
        result = lifter.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and words in result.reason
        assert lifter.get_parameter(name).value == before
    finally:
        lifter.destroy_node()


def test_runtime_set_moves_root_relative_skeletons_by_rotation_only(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path))  # no intrinsics: root-relative
    try:
        feed(driver, range(2))
        assert lifter.set_parameters_atomically([Parameter("target_frame", value="base_link"),
                                                 Parameter("camera_to_target", value=EXAMPLE)]).successful
        feed(driver, range(2, 4))
        last = driver.skeletons[-1]
        assert last.header.frame_id == "base_link" and last.skeletons[0].placement == Skeleton3D.NOT_PLACED
        np.testing.assert_allclose(joints(last)[0, 0], 0.0, atol=1e-9)  # the pelvis stays at the origin
    finally:
        driver.close()
        lifter.destroy_node()


def test_tf_lookup_without_any_transform_and_with_a_static_one() -> None:
    """Pure TfLookup rules: nothing at the stamp nor latest → tf_lookup_failed; a static transform (stamp 0) is
    used whatever the skeleton's stamp."""
    def look_alike_time(nanoseconds: int = 0) -> NS:
        return NS(nanoseconds=nanoseconds)

    class Nothing:
        def lookup_transform(self, target, source, time, timeout):
            raise LookupError(f"{source} does not exist")

    class Static(LookAlikeBuffer):
        def lookup_transform(self, target, source, time, timeout):
            if time.nanoseconds:
                raise LookupError("no transform at that time")
            found = super().lookup_transform(target, source, time, timeout)
            found.header.stamp.sec = found.header.stamp.nanosec = 0
            return found

    options = FrameOptions(target_frame="base_link", tf_lookup=True)
    seconds = lambda seconds: seconds  # noqa: E731 (rclpy Duration look-alike)
    transform, drop = tf_output.TfLookup(Nothing(), look_alike_time, seconds).transform(
        "base_link", "cam", stamp_ns(3), options.tf_timeout, options.tf_max_age)
    assert transform is None and drop.reason == "tf_lookup_failed" and "cam does not exist" in drop.message
    transform, drop = tf_output.TfLookup(Static(stamp_ns(0)), look_alike_time, seconds).transform(
        "base_link", "cam", stamp_ns(300), options.tf_timeout, options.tf_max_age)
    assert drop is None and np.allclose(transform.rotation, Transform.from_pose(EXAMPLE).rotation)


def test_orientations_on_the_wire_and_ros_array_values() -> None:
    """Skeleton3D.orientations carries (B, J, 4) as geometry_msgs/Quaternion; ROS array parameter values (lists
    from YAML, array.array from the parameter services) are checked and held as tuples."""
    import array

    from mpm_ros import messages, param_table, params

    q = np.tile([0.0, 0.0, 0.0, 1.0], (2, 17, 1))
    msg = messages.skeleton3d_array(1, "base_link", [1, 2], messages.track_points(np.zeros((2, 17, 3))),
                                    np.ones((2, 17)), np.zeros((2, 17), bool), np.ones(2, np.uint8), q)
    assert len(msg.skeletons[1].orientations) == 17 and msg.skeletons[1].orientations[0].w == 1.0
    with pytest.raises(ValueError, match="orientations"):
        messages.skeleton3d_array(1, "a", [1], messages.track_points(np.zeros((1, 17, 3))), np.ones((1, 17)),
                                  np.zeros((1, 17), bool), np.ones(1, np.uint8), q)
    service_value = array.array("d", EXAMPLE)
    assert param_table.ros_value(service_value) == EXAMPLE and param_table.ros_value(list(EXAMPLE)) == EXAMPLE
    assert params.SPECS["camera_to_target"].problem(service_value) is None
    assert "expected tuple" in params.SPECS["camera_to_target"].problem("0 0 0 0 0 0 1")
