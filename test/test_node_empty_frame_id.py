"""An empty header.frame_id (issue 20): outputs take output_frame_id, else the camera_info's frame_id; with neither
the frame is refused and counted (dropped.empty_frame_id) instead of publishing frame "" that TF cannot resolve."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import (Driver, camera_info, lifter_overrides, skeleton_array, stamp_ns,  # noqa: E402
                          tiny_checkpoint, walking_pixels)


def _frame(k: int, walker) -> object:
    msg = skeleton_array(stamp_ns(k), {1: walker[k]})
    msg.header.frame_id = ""
    return msg


def test_empty_frame_id_refused_then_camera_info_frame_then_override(context, tmp_path) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    driver = Driver(context, lifter)
    walker = walking_pixels(20)
    try:
        driver.wait_connected()
        for k in range(3):
            driver.send(_frame(k, walker))
            driver.spin_until(lambda: False, 0.05)
        assert driver.spin_until(lambda: lifter.stats.dropped().get("empty_frame_id", 0) == 3, 5.0)
        assert not driver.skeletons
        info = camera_info()
        info.header.frame_id = "head_camera_optical"
        driver.camera.publish(info)
        assert driver.spin_until(lambda: lifter._camera.frame_id == "head_camera_optical", 5.0)
        driver.send(_frame(3, walker), expect_outputs=1)
        assert driver.skeletons[-1].header.frame_id == "head_camera_optical"
        assert lifter.set_parameters([rclpy.parameter.Parameter("output_frame_id", value="robot_cam")])[0].successful
        driver.send(_frame(4, walker), expect_outputs=2)
        assert driver.skeletons[-1].header.frame_id == "robot_cam"
        assert all(s.header.frame_id for s in driver.skeletons)
    finally:
        driver.close()
        lifter.destroy_node()
