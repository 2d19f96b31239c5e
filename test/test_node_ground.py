"""The ground plane's floor in the node (in-process, real rclpy): from tf2 (`ground_frame`, through a look-alike
Buffer: tf2_ros is not installed here; a ROS 2 install runs the real one), looked up at each frame's stamp without
waiting and used; a failed lookup counted; tf2_ros absent → configure still succeeds, with a warning; and with no
floor source the roots are today's (ground_plane off) bit for bit."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace as NS

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import TransformStamped  # noqa: E402
from mpm_msgs.msg import Skeleton3D  # noqa: E402

from mpm_model.streaming.ground import ANKLE_HEIGHT_M, ANKLES, MIN_TRACK_CONTACTS  # noqa: E402
from mpm_ros import tf_output  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import FRAME_ID, Driver, lifter_overrides, skeleton_array, stamp_ns, walking_pixels  # noqa: E402

PLACING = dict(focal_length=1145.0, image_width=1000, image_height=1000, root_filter=False)  # the 2D fits as they are
FRAMES = 30
LEVEL = (0.5, -0.5, 0.5, 0.5)  # base_footprint's rotation in the optical frame of a level camera looking along its +x


def look_alike_time(nanoseconds: int = 0) -> NS:
    return NS(nanoseconds=nanoseconds)


class FloorBuffer:
    """tf2_ros.Buffer look-alike holding base_footprint in the camera frame `height` m below it (a level camera), at
    every stamp up to `until_ns` (None: all), the latest one stamped `until_ns`; height None: no transform at all
    (the robot has no TF tree). Records each lookup."""

    def __init__(self, height: float | None, until_ns: int | None = None) -> None:
        self.height, self.until_ns, self.calls = height, until_ns, []

    def lookup_transform(self, target, source, time, timeout) -> TransformStamped:
        self.calls.append((target, source, time.nanoseconds, timeout))
        if self.height is None:
            raise LookupError(f'"{source}" passed to lookupTransform argument source_frame does not exist')
        if self.until_ns is not None and time.nanoseconds > self.until_ns:
            raise LookupError("Lookup would require extrapolation into the future")
        found = TransformStamped(child_frame_id=source)
        found.header.frame_id = target
        stamp = time.nanoseconds or self.until_ns  # time 0: tf2's latest
        found.header.stamp.sec, found.header.stamp.nanosec = divmod(stamp, 10**9)
        found.transform.translation.y = self.height
        r = found.transform.rotation
        r.x, r.y, r.z, r.w = LEVEL
        return found


def lifted(context, checkpoint, buffer: FloorBuffer | None = None, monkeypatch=None, **values) -> tuple[
        np.ndarray, LifterNode, Driver]:
    """30 frames of a walker through a node → (F, J, 3) the published joints (camera frame), the node (destroyed)
    and its driver (closed); with `buffer`, tf2_ros is the look-alike around it."""
    if buffer is not None:
        monkeypatch.setattr(tf_output, "tf_lookup", lambda node: tf_output.TfLookup(
            buffer, look_alike_time, lambda seconds: seconds))
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, **PLACING, **values))
    assert lifter.lifecycle_state == "active"
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        walker = walking_pixels(FRAMES)
        for frame in range(FRAMES):
            driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}), expect_outputs=frame + 1)
        driver.spin_until(lambda: False, 0.2)  # the log lines
    finally:
        driver.close()
        lifter.destroy_node()
    assert all(m.skeletons[0].placement == Skeleton3D.REPROJECTION for m in driver.skeletons)
    return np.array([[[p.x, p.y, p.z] for p in m.skeletons[0].joints] for m in driver.skeletons]), lifter, driver


@pytest.fixture(scope="module")
def checkpoint():
    return "mpm_t27_causal"  # the shipped lifter: a random one fits no root in most of these frames


@pytest.fixture(scope="module")
def today(checkpoint):
    """The roots of a node with the ground plane off."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        return lifted(context, checkpoint, ground_plane=False)[0]
    finally:
        rclpy.shutdown(context=context)


def test_a_floor_from_tf_is_looked_up_without_waiting_and_corrects_the_roots(context, checkpoint, today,
                                                                             monkeypatch) -> None:
    """base_footprint looked up in the keypoints' frame at each frame's own stamp with a zero timeout, and the roots
    scaled about the camera centre by their size factor against that floor (here 10 % farther than the feet the
    lifter fitted): ground.corrected, roots measurably farther than without it, the pose untouched."""
    lower_feet = np.max(today[:, list(ANKLES), 1], axis=1)  # (F,) the lower ankle's height below the level camera
    buffer = FloorBuffer(ANKLE_HEIGHT_M + 1.1 * float(np.median(lower_feet)))
    joints, lifter, _ = lifted(context, checkpoint, buffer, monkeypatch, ground_plane=True,
                               ground_frame="base_footprint")
    assert {(target, source, timeout) for target, source, _, timeout in buffer.calls} == {
        (FRAME_ID, "base_footprint", 0.0)}, "the floor in the keypoints' frame, never waiting"
    assert [stamp for _, _, stamp, _ in buffer.calls] == [stamp_ns(f) for f in range(FRAMES)]
    masked = lifter.stats.masked()
    assert masked.get("ground.corrected") == FRAMES - MIN_TRACK_CONTACTS and "ground.tf_missing" not in masked
    np.testing.assert_allclose(joints - joints[:, :1], today - today[:, :1], atol=1e-9)  # the pose as it was
    scale = np.linalg.norm(joints[:, 0], axis=-1) / np.linalg.norm(today[:, 0], axis=-1)  # (F,)
    np.testing.assert_allclose(joints[:, 0], scale[:, None] * today[:, 0], rtol=1e-9)  # along the viewing ray
    assert (scale[:MIN_TRACK_CONTACTS] == 1.0).all() and (scale[MIN_TRACK_CONTACTS:] > 1.03).all()  # after contacts


def test_a_failed_floor_lookup_is_counted_and_changes_nothing(context, checkpoint, today, monkeypatch) -> None:
    """No TF tree (every lookup raises): no floor for any frame, each counted ground.tf_missing, warned once
    (throttled), and the roots are today's bit for bit."""
    joints, lifter, driver = lifted(context, checkpoint, FloorBuffer(None), monkeypatch, ground_plane=True,
                                    ground_frame="base_footprint")
    masked = lifter.stats.masked()
    assert masked.get("ground.tf_missing") == FRAMES and masked.get("ground.no_floor") == FRAMES
    assert sum("no floor for ground_plane" in line for line in driver.log_lines()) == 1
    assert np.array_equal(joints, today)


def test_without_a_floor_source_the_roots_are_todays_bit_for_bit(context, checkpoint, today) -> None:
    """ground_plane on with neither ground_camera_height nor ground_frame: configured, one warning, every skeleton
    counted ground.no_floor, the roots of ground_plane off exactly."""
    joints, lifter, driver = lifted(context, checkpoint, ground_plane=True, ground_frame="")
    assert lifter.stats.masked().get("ground.no_floor") == FRAMES
    assert sum("ground_plane is on without a floor" in line for line in driver.log_lines()) == 1
    assert np.array_equal(joints, today)


def test_ground_frame_without_tf2_ros_configures_with_a_warning(context, checkpoint, today) -> None:
    """tf2_ros is not installed here: a ground_frame is a robot convenience, so configure succeeds, says once why
    there is no floor, and the roots are today's."""
    if importlib.util.find_spec("tf2_ros") is not None:
        pytest.skip("tf2_ros is installed")
    joints, lifter, driver = lifted(context, checkpoint, ground_plane=True, ground_frame="base_footprint")
    assert sum("needs tf2_ros" in line for line in driver.log_lines()) == 1
    assert lifter.stats.masked().get("ground.no_floor") == FRAMES
    assert np.array_equal(joints, today)


def test_the_parameters_floor_wins_over_ground_frame(context, checkpoint, monkeypatch) -> None:
    """ground_camera_height set: the parameters give the floor and tf2 is never asked."""
    buffer = FloorBuffer(1.0)
    lifted(context, checkpoint, buffer, monkeypatch, ground_plane=True, ground_frame="base_footprint",
           ground_camera_height=1.0)
    assert buffer.calls == []


def test_the_floor_lookup_never_waits_and_never_takes_an_older_floor() -> None:
    """FloorLookup alone: at the stamp with a zero timeout; after the last transform, tf2's latest while within
    tf_max_age of the frame's stamp, then no floor (ground.tf_missing, the age in the message); a frame whose
    transform is missing is reported, not raised: every miss counted, said once per loss (again after a floor
    was found)."""
    from mpm_model.streaming.frames import FrameOptions

    buffer = FloorBuffer(1.2, until_ns=stamp_ns(4))
    lookup = tf_output.FloorLookup(FrameOptions(ground_frame="base_footprint", tf_max_age=0.1),
                                   tf_output.TfLookup(buffer, look_alike_time, lambda seconds: seconds))
    reported: list[tuple[str, str]] = []
    floor_at = lookup.source(FRAME_ID, lambda reason, message: reported.append((reason, message)))
    floors = [floor_at(stamp_ns(frame)) for frame in range(10)]  # 0.033 .. 0.17 s past the last transform
    assert all(f is not None and f.height == pytest.approx(1.2) for f in floors[:8])  # 4 at their stamp, 3 latest
    assert floors[8:] == [None, None] and [r for r, _ in reported] == [tf_output.TF_MISSING] * 2
    assert "tf_max_age" in reported[0][1] and "older" in reported[0][1] and reported[1][1] == ""
    buffer.until_ns = stamp_ns(20)  # the floor frame is back, then lost again: said again
    assert floor_at(stamp_ns(15)) is not None and floor_at(stamp_ns(30)) is None and floor_at(stamp_ns(31)) is None
    assert [bool(message) for _, message in reported] == [True, False, True, False]
    assert buffer.calls[0] == (FRAME_ID, "base_footprint", stamp_ns(0), 0.0)
    assert tf_output.FloorLookup(FrameOptions(ground_frame="")).source(FRAME_ID, print) is None  # no floor input
