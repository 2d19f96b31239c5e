"""The root state through the mpm_lifter node (real rclpy, tiny random-init model): a track whose root fit fails
is published PREDICTED for at most root_max_prediction, then root-relative; a track id back after longer than
track_timeout restarts its state, counted; velocity and covariance reach Skeleton3D; the shipped refiner gates a
detector outlier; all counted in /diagnostics."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from mpm_msgs.msg import Skeleton3D  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from mpm_ros import messages  # noqa: E402

from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import (Driver, lifter_overrides, skeleton_array, stamp_ns,  # noqa: E402
                          tiny_checkpoint, walking_pixels)

MAX_PREDICTION_S = 0.2


def test_prediction_is_bounded_and_resets_counted(context, tmp_path) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(
        tiny_checkpoint(tmp_path), track_timeout=0.3, min_visible_joints=1, root_max_prediction=MAX_PREDICTION_S))
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        driver.send_camera_info(lifter)
        walker = walking_pixels(60)
        only_root = np.where(np.arange(17) == 0, 0.9, 0.0)  # one joint: a root fit needs two (NOT_PLACED)
        plan = [("walk", f) for f in range(10)] + [("empty", f) for f in range(10, 25)] + \
            [("walk", f) for f in range(25, 35)] + [("root_only", f) for f in range(35, 50)]
        outputs = 0
        for kind, frame in plan:
            tracks = {} if kind == "empty" else {4: walker[frame]}
            outputs += kind != "empty"
            driver.send(skeleton_array(stamp_ns(frame), tracks, {4: only_root} if kind == "root_only" else None),
                        expect_outputs=outputs if kind != "empty" else None)
            driver.spin_until(lambda: False, 1 / 30)  # real time: stamps never run ahead of the receive clock
        by_frame = {round((m.header.stamp.sec * 10**9 + m.header.stamp.nanosec - stamp_ns(0)) * 30 / 1e9):
                    s for m in driver.skeletons for s in m.skeletons}
        assert by_frame[0].placement == Skeleton3D.REPROJECTION and not by_frame[0].has_velocity
        assert by_frame[9].has_velocity and np.any(by_frame[9].root_covariance)
        measured = [f for f in range(35) if f in by_frame and by_frame[f].placement == Skeleton3D.REPROJECTION]
        predicted = [f for f in range(35, 50) if by_frame[f].placement == Skeleton3D.PREDICTED]
        assert predicted and predicted == list(range(35, 35 + len(predicted)))
        assert (predicted[-1] - measured[-1]) / 30.0 <= MAX_PREDICTION_S + 1e-6, "prediction is bounded"
        assert all(by_frame[f].placed and any(by_frame[f].root_covariance) for f in predicted)
        after = [by_frame[f] for f in range(predicted[-1] + 1, 50)]
        assert after and all(s.placement == Skeleton3D.NOT_PLACED and not s.placed and not s.has_velocity
                             and not any(s.root_covariance) for s in after)
        expected = {"masked.temporal.root_predicted": len(predicted), "masked.temporal.prediction_expired": 1,
                    "masked.temporal.reset_stale": 1}
        assert driver.spin_until(lambda: all(driver.diagnostic_values().get(k) == str(v)
                                             for k, v in expected.items()), 5.0), driver.diagnostic_values()
    finally:
        driver.close()
        lifter.destroy_node()


def test_root_filter_off_live(context, tmp_path) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        driver.send_camera_info(lifter)
        walker = walking_pixels(10)
        for frame in range(5):
            driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}), expect_outputs=frame + 1)
        assert driver.skeletons[-1].skeletons[0].has_velocity
        assert lifter.set_parameters([Parameter("root_filter", value=False)])[0].successful
        for frame in range(5, 10):
            driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}), expect_outputs=frame + 1)
        off = [m.skeletons[0] for m in driver.skeletons[5:]]  # the fits as they are: never predicted, no state
        assert all(s.placement != Skeleton3D.PREDICTED and not s.has_velocity and not any(s.root_covariance)
                   for s in off)
        refused = lifter.set_parameters([Parameter("root_gate", value=0.5)])[0]
        assert not refused.successful and "root_gate" in refused.reason
        assert lifter._lifter.refiner is None  # a tiny random lifter: not the refiner's, said at configure
        assert driver.spin_until(lambda: any("pose refiner" in line and "smoothing parameters" in line
                                             for line in driver.log_lines()), 5.0), driver.log_lines()
    finally:
        driver.close()
        lifter.destroy_node()


@pytest.mark.parametrize("name, value", [("root_adaptive_noise", 0.5), ("root_adaptive_noise", 20000.0),
                                         ("root_velocity_decay", -0.1), ("root_velocity_decay", 101.0)])
def test_manoeuvre_parameters_live(context, tmp_path, name: str, value: float) -> None:
    """The adaptive process noise and the velocity decay reach the root state live; an invalid value is refused
    and changes nothing."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    try:
        assert lifter.set_parameters([Parameter("root_adaptive_noise", value=1.0),
                                      Parameter("root_velocity_decay", value=0.0)])[0].successful
        options = lifter._lifter.roots.options
        assert options.root_adaptive_noise == 1.0 and options.root_velocity_decay == 0.0
        refused = lifter.set_parameters([Parameter(name, value=value)])[0]
        assert not refused.successful and name in refused.reason
        assert lifter._lifter.roots.options == options
    finally:
        lifter.destroy_node()


@pytest.mark.parametrize("value", [-0.1, 4.5])
def test_fit_conditioning_live(context, tmp_path, value: float) -> None:
    """root_fit_conditioning reaches the root state live (0: every 2D fit alike); an invalid value is refused and
    changes nothing."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    try:
        assert lifter._lifter.roots.options.root_fit_conditioning == 0.25
        assert lifter.set_parameters([Parameter("root_fit_conditioning", value=0.0)])[0].successful
        options = lifter._lifter.roots.options
        assert options.root_fit_conditioning == 0.0
        refused = lifter.set_parameters([Parameter("root_fit_conditioning", value=value)])[0]
        assert not refused.successful and "root_fit_conditioning" in refused.reason
        assert lifter._lifter.roots.options == options
    finally:
        lifter.destroy_node()


@pytest.mark.parametrize("name, value", [("ground_gate", 0.0), ("ground_camera_pitch", 91.0)])
def test_ground_plane_live(context, tmp_path, name: str, value: float) -> None:
    """The ground plane's options reach the lifter live (on by default, its floor from TF; here a given floor, and
    off); an invalid value is refused and changes nothing."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    try:
        assert lifter._lifter.options.temporal.ground_plane
        assert lifter.set_parameters([Parameter("ground_plane", value=False)])[0].successful
        assert not lifter._lifter.options.temporal.ground_plane
        assert all(r.successful for r in lifter.set_parameters([
            Parameter("ground_plane", value=True), Parameter("ground_camera_height", value=1.2),
            Parameter("ground_camera_pitch", value=5.0)]))
        options = lifter._lifter.options.temporal
        assert options.ground_plane and (options.ground_camera_height, options.ground_camera_pitch) == (1.2, 5.0)
        refused = lifter.set_parameters([Parameter(name, value=value)])[0]
        assert not refused.successful and name in refused.reason
        assert lifter._lifter.options.temporal == options
    finally:
        lifter.destroy_node()


def test_velocity_arrows_opt_in() -> None:
    """An ARROW from the root along 0.5 s of its velocity where known, a DELETE where not; expiry deletes it too."""
    joints = np.zeros((2, 17, 3)) + [[[1.0, 0.0, 4.0]], [[0.0, 0.0, 3.0]]]
    arrows = messages.velocity_markers(7, "cam", [3, 4], messages.track_points(joints),
                                       np.array([[1.0, 0.0, -2.0], [np.nan] * 3]), 0.05, 0.5)
    assert [(m.ns, m.id, m.type if m.action == Marker.ADD else m.action) for m in arrows] == [
        ("track_3/velocity", 0, Marker.ARROW), ("track_4/velocity", 0, Marker.DELETE)]
    assert [(p.x, p.y, p.z) for p in arrows[0].points] == [(1.0, 0.0, 4.0), (1.5, 0.0, 3.0)]
    expired = messages.delete_markers(7, "cam", [3], velocity=True).markers
    assert ("track_3/velocity", 0, Marker.DELETE) in [(m.ns, m.id, m.action) for m in expired]
    assert all("velocity" not in m.ns for m in messages.delete_markers(7, "cam", [3]).markers)


def test_node_draws_velocity_arrows_when_asked(context, tmp_path) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path),
                                                                             marker_velocity=True))
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        driver.send_camera_info(lifter)
        walker = walking_pixels(6)
        for frame in range(6):
            driver.send(skeleton_array(stamp_ns(frame), {2: walker[frame]}), expect_outputs=frame + 1)
        assert any(m.skeletons[0].has_velocity for m in driver.skeletons)
        assert driver.spin_until(lambda: any(m.type == Marker.ARROW and m.ns == "track_2/velocity"
                                             for a in driver.markers for m in a.markers), 5.0)
    finally:
        driver.close()
        lifter.destroy_node()


def test_a_detector_outlier_gets_no_present_term_and_is_counted(context) -> None:
    """The shipped lifter and its refiner (real rclpy): one frame's wrist 100 px off (about 0.6 m at 6 m, another
    person's wrist) is gated — no 2D present correction for it — and counted once in /diagnostics
    (masked.refiner.present_gated); the clean walker's frames gate nothing."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides("mpm_t27_causal"))
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        driver.send_camera_info(lifter)
        assert lifter._lifter.refiner is not None
        walker = walking_pixels(24)
        for frame in range(24):
            pixels = walker[frame] + np.where(frame == 20 and np.arange(17)[:, None] == 16, [100.0, 0.0], 0.0)
            driver.send(skeleton_array(stamp_ns(frame), {4: pixels}), expect_outputs=frame + 1)
            driver.spin_until(lambda: False, 1 / 30)  # real time: stamps never run ahead of the receive clock
        assert driver.spin_until(lambda: driver.diagnostic_values().get("masked.refiner.present_gated") == "1",
                                 5.0), driver.diagnostic_values()
    finally:
        driver.close()
        lifter.destroy_node()


def test_gap_fill_frames_live(context, tmp_path) -> None:
    """On by default (8 frames); set live, the library's stream options follow at once (what it changes:
    test_gap_fill.py)."""
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    driver = Driver(context, lifter)
    try:
        driver.wait_connected()
        assert lifter._lifter.options.stream.gap_fill_frames == 8
        assert lifter.set_parameters([Parameter("gap_fill_frames", value=0)])[0].successful
        assert lifter._lifter.options.stream.gap_fill_frames == 0
        assert not lifter.set_parameters([Parameter("gap_fill_frames", value=300)])[0].successful
        assert lifter._lifter.options.stream.gap_fill_frames == 0
    finally:
        driver.close()
        lifter.destroy_node()


def test_mirror_max_tracks_live(context, tmp_path) -> None:
    """On by default (one track), off live (0): the same frames then give the lifter's own (unmirrored) answer."""
    checkpoint = tiny_checkpoint(tmp_path)
    outputs = []
    for mirrored in (True, False):
        lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint))
        driver = Driver(context, lifter)
        try:
            driver.wait_connected()
            driver.send_camera_info(lifter)
            assert lifter._lifter.options.stream.mirror_max_tracks == 4
            if not mirrored:
                assert lifter.set_parameters([Parameter("mirror_max_tracks", value=0)])[0].successful
                assert lifter._lifter.options.stream.mirror_max_tracks == 0
            walker = walking_pixels(4)
            for frame in range(4):
                driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}), expect_outputs=frame + 1)
            outputs.append(np.array([[(j.x, j.y, j.z) for j in m.skeletons[0].joints] for m in driver.skeletons]))
        finally:
            driver.close()
            lifter.destroy_node()
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
