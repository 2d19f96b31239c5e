"""Issue 25 items 2-4 in the node (real rclpy): depth obeys camera_info's rules. Another camera's depth is never
used, a huge image is refused from its header, and depth running behind does not cap the output rate."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from mpm_msgs.msg import Skeleton3D  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from node_support import (T0_NS, Driver, lifter_node, skeleton_array, stamp_ns,  # noqa: E402
                          tiny_checkpoint, walking_pixels)
from test_node_camera_depth import PACE_S, SHIPPED, depth_image  # noqa: E402


def _reliable_depth(driver: Driver):
    return driver.node.create_publisher(Image, "depth", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))


def _connect(driver: Driver, lifter, depth) -> None:
    """Keypoints and the reliable depth publisher matched, the camera_info received."""
    driver.wait_connected()
    assert driver.spin_until(lambda: depth.get_subscription_count() > 0, 10.0)
    driver.send_camera_info(lifter)


def test_another_cameras_depth_and_a_huge_image_are_never_used(context) -> None:
    """Depth in other_cam_optical at 1.2x the true depth (on main: 89 of 90 placed DEPTH, 2.8 m too far): counted,
    warned, placed from 2D. A 4000x3000 image for a 1000x1000 camera_info: refused from its header, not kept."""
    with lifter_node(context, SHIPPED, use_depth=True, depth_reliable=True, depth_tolerance=0.01) as lifter:
        driver = Driver(context, lifter)
        depth = _reliable_depth(driver)
        try:
            _connect(driver, lifter, depth)
            walker = walking_pixels(6)
            driver.send(skeleton_array(stamp_ns(0), {1: walker[0]}), expect_outputs=1, timeout=20.0)
            root_z = driver.skeletons[0].skeletons[0].joints[0].z
            for index in range(1, 6):
                other = depth_image(stamp_ns(index), 1.2 * root_z)
                other.header.frame_id = "other_cam_optical"
                depth.publish(other)
                driver.spin_until(lambda: False, 0.1)  # the image is in before its keypoints
                driver.spin_until(lambda: False, PACE_S)
                driver.send(skeleton_array(stamp_ns(index), {1: walker[index]}), expect_outputs=index + 1,
                            timeout=20.0)
            assert all(m.skeletons[0].placement == Skeleton3D.REPROJECTION for m in driver.skeletons)
            assert lifter.stats.masked()["depth.frame_mismatch"] == 5, lifter.stats.masked()
            assert driver.spin_until(lambda: any("no depth image of that frame_id" in line
                                                 for line in driver.log_lines()), 3.0)
            huge = Image(width=4000, height=3000, encoding="16UC1", step=8000)
            huge.header.frame_id = "test_camera_optical"
            huge.header.stamp.sec, huge.header.stamp.nanosec = stamp_ns(6) // 10**9, stamp_ns(6) % 10**9
            huge.data = bytes(8000 * 3000)
            kept = len(lifter._depth)
            depth.publish(huge)
            assert driver.spin_until(lambda: lifter.stats.dropped().get("depth.size_mismatch") == 1, 10.0), \
                lifter.stats.dropped()
            assert len(lifter._depth) == kept, "never decoded nor kept"
        finally:
            driver.close()


def test_depth_running_behind_keeps_the_camera_rate_and_warns(context, tmp_path) -> None:
    """depth_wait 0.2 s, depth stamped 0.5 s before its keypoints (on main: 41 of 240 outputs, the worker waited
    0.2 s per frame): every frame is answered, depth.behind counted, /diagnostics WARN naming depth. A tiny model,
    so that inference keeps up on a loaded machine and only the waits could cap the rate."""
    with lifter_node(context, tiny_checkpoint(tmp_path), use_depth=True, depth_reliable=True, depth_wait=0.2,
                     depth_tolerance=0.02) as lifter:
        driver = Driver(context, lifter)
        depth = _reliable_depth(driver)
        try:
            _connect(driver, lifter, depth)
            walker = walking_pixels(60)
            start = time.monotonic()
            for index in range(60):  # 2 s at 30 Hz
                stamp = T0_NS + int((time.monotonic() - start) * 1e9)
                depth.publish(depth_image(stamp - 500_000_000, 5.0))
                driver.keypoints.publish(skeleton_array(stamp, {1: walker[index]}))
                driver.spin_until(lambda: False, 1 / 30)
            assert driver.spin_until(lambda: len(driver.skeletons) >= 55, 5.0), \
                (len(driver.skeletons), lifter.stats.dropped(), lifter.stats.masked(), lifter.stats.snapshot().inference_p50_ms)
            assert lifter.stats.masked().get("depth.behind", 0) >= 40, lifter.stats.masked()
            assert lifter.stats.dropped().get("inference_queue_full", 0) <= 5, lifter.stats.dropped()

            def depth_warned() -> bool:
                status = driver.diagnostics[-1].status[0] if driver.diagnostics else None
                return status is not None and status.level >= DiagnosticStatus.WARN and "depth images run" in \
                    status.message
            assert driver.spin_until(depth_warned, 3.0), driver.diagnostics[-1].status[0].message
        finally:
            driver.close()
