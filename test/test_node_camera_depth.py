"""The lifter node's placement inputs in-process (real rclpy): camera_info matched to keypoints by frame_id and
stamp (issue 19's two attacks), and the opt-in aligned depth stream with its counters."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from mpm_msgs.msg import Skeleton3D  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from mpm_model.streaming.placement import estimate_root_translation  # noqa: E402
from node_support import (FPS, FRAME_ID, K, Driver, lifter_node, skeleton_array, stamp_ns,  # noqa: E402
                          walking_pixels)

SHIPPED = "mpm_t27_causal"  # real weights: a human pose, so the 2D fit succeeds on every frame of the walker
PACE_S = 1.2 / FPS  # keypoints no faster than real time: stamps running ahead of the receive clock are refused


def joints(skeleton: Skeleton3D) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in skeleton.joints])  # (17, 3)


def stamp_of(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def stamped_camera_info(stamp: int, size: int, k: np.ndarray, frame_id: str = FRAME_ID) -> CameraInfo:
    msg = CameraInfo(width=size, height=size)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
    msg.k = k.reshape(-1).tolist()
    return msg


def test_another_cameras_info_never_places(context, tmp_path) -> None:
    """Keypoints in cam_left with only a cam_right camera_info of twice the focal length: counted, warned,
    every skeleton published root-relative (NOT_PLACED) — never placed with the other camera's intrinsics."""
    with lifter_node(context, SHIPPED) as lifter:
        driver = Driver(context, lifter)
        try:
            driver.wait_connected()
            right = K.copy()
            right[0, 0] *= 2
            right[1, 1] *= 2
            driver.camera.publish(stamped_camera_info(stamp_ns(0), 1000, right, "cam_right_optical"))
            assert driver.spin_until(lambda: lifter._camera.info is not None, 5.0)
            walker = walking_pixels(8)
            for frame in range(8):
                msg = skeleton_array(stamp_ns(frame), {1: walker[frame]})
                msg.header.frame_id = "cam_left_optical"
                driver.spin_until(lambda: False, PACE_S)
                driver.send(msg, expect_outputs=frame + 1, timeout=20.0)
            skeletons = [s for m in driver.skeletons for s in m.skeletons]
            assert len(skeletons) == 8
            assert all(s.placement == Skeleton3D.NOT_PLACED and not s.placed for s in skeletons)
            assert all(np.allclose(joints(s)[0], 0.0) for s in skeletons), "root-relative: root at the origin"
            assert driver.spin_until(lambda: int(driver.diagnostic_values().get(
                "masked.camera_frame_mismatch", 0)) >= 8, 5.0), driver.diagnostic_values()
            assert any("camera_frame_mismatch" in line for line in driver.log_lines())
            # The camera's own frame_id (leading slash ignored) places them again (where the untrained model's
            # pose lets the 2D fit succeed: not every frame, root_fit_failed otherwise).
            driver.camera.publish(stamped_camera_info(stamp_ns(8), 1000, K, "/cam_left_optical"))
            assert driver.spin_until(lambda: lifter._camera.match(stamp_ns(8), "cam_left_optical").problem
                                     is None, 5.0)
            walker = walking_pixels(16)
            for frame in range(8, 16):
                msg = skeleton_array(stamp_ns(frame), {1: walker[frame]})
                msg.header.frame_id = "cam_left_optical"
                driver.spin_until(lambda: False, PACE_S)
                driver.send(msg, expect_outputs=frame + 1, timeout=20.0)
            placements = [m.skeletons[0].placement for m in driver.skeletons[8:]]
            assert Skeleton3D.REPROJECTION in placements, lifter.stats.masked()
            assert lifter.stats.masked()["camera_frame_mismatch"] == 8, "only the cam_left frames without a camera"
        finally:
            driver.close()


def test_resolution_change_with_late_keypoints_uses_each_frames_own_camera(context, tmp_path) -> None:
    """500x500 → 1000x1000 at frame 10, keypoints arriving 5 frames after their camera_info: each frame is placed
    with the intrinsics of its own stamp (its root is the fit with those, far from the fit with the other)."""
    small = np.diag([0.5, 0.5, 1.0]) @ K  # the same lens at half the resolution
    walker = walking_pixels(20)
    own = {f: (500, small, walker[f] * 0.5) if f < 10 else (1000, K, walker[f]) for f in range(20)}
    # each frame's own fit is compared: without the temporal state (it filters the root and refines the pose)
    with lifter_node(context, SHIPPED, root_filter=False, pose_refiner=False) as lifter:
        driver = Driver(context, lifter)
        try:
            driver.wait_connected()
            entries = lambda: len(lifter._camera.history._entries.get(FRAME_ID, []))  # noqa: E731
            for frame in range(-5, 20):
                info = frame + 5
                if info < 20:
                    size, k, _ = own[info]
                    driver.camera.publish(stamped_camera_info(stamp_ns(info), size, k))
                    assert driver.spin_until(lambda: entries() == info + 1, 5.0)
                if frame >= 0:  # a frame the stamp rule refuses under load (stamp_outlier) is counted, not waited for
                    outputs, drops = len(driver.skeletons), sum(lifter.stats.dropped().values())
                    driver.spin_until(lambda: False, PACE_S)
                    driver.send(skeleton_array(stamp_ns(frame), {1: own[frame][2]}))
                    assert driver.spin_until(lambda: len(driver.skeletons) > outputs
                                             or sum(lifter.stats.dropped().values()) > drops, 20.0)
            assert len(driver.skeletons) >= 18, lifter.stats.dropped()
            placed_frames = []
            for msg in driver.skeletons:
                frame = [f for f in range(20) if stamp_ns(f) == stamp_of(msg)][0]
                skeleton = msg.skeletons[0]
                size, k, pixels = own[frame]
                wrong = K if size == 500 else small
                if not skeleton.placed:  # the untrained model's pose defeated the 2D fit (counted)
                    continue
                placed_frames.append(frame)
                placed = joints(skeleton)
                relative = placed - placed[0]
                expected = estimate_root_translation(relative, pixels, np.full(17, 0.9), k)
                other = estimate_root_translation(relative, pixels, np.full(17, 0.9), wrong)
                np.testing.assert_allclose(placed[0], expected, atol=1e-3, err_msg=f"frame {frame}")
                assert other is None or np.linalg.norm(other - expected) > 0.5, "the test can tell them apart"
            assert {5, 6, 7, 8, 9} & set(placed_frames) and {10, 11, 12, 13, 14} & set(placed_frames), placed_frames
            assert not any(k.startswith("camera_") for k in lifter.stats.masked())
        finally:
            driver.close()


def depth_image(stamp: int, depth_m: float | np.ndarray, size: int = 1000, encoding: str = "16UC1") -> Image:
    msg = Image(width=size, height=size, encoding=encoding)
    msg.header.frame_id = FRAME_ID
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
    if encoding == "32FC1":
        data = np.broadcast_to(np.asarray(depth_m, np.float32), (size, size))
    else:
        data = np.full((size, size), np.asarray(depth_m) * 1000, np.uint16)
    msg.step = size * data.dtype.itemsize
    msg.data = np.ascontiguousarray(data).tobytes()
    return msg


def test_depth_stream_beside_keypoints(context, tmp_path) -> None:
    """Missing, late, garbage-encoded, wrong-size and absurd depth: counted, placed from 2D (keypoints never
    wait); a depth image of the frame's own stamp places with depth (DEPTH)."""
    with lifter_node(context, SHIPPED, use_depth=True, depth_tolerance=0.01) as lifter:
        driver = Driver(context, lifter)
        depth = driver.node.create_publisher(Image, "depth", rclpy.qos.qos_profile_sensor_data)
        try:
            driver.wait_connected()
            assert driver.spin_until(lambda: depth.get_subscription_count() > 0, 10.0)
            driver.send_camera_info(lifter)
            walker = walking_pixels(12)

            def frame(index: int, image: Image | None = None, late: Image | None = None) -> Skeleton3D:
                if image is not None:
                    seen = len(lifter._depth)
                    depth.publish(image)
                    driver.spin_until(lambda: len(lifter._depth) > seen, 3.0)
                driver.spin_until(lambda: False, PACE_S)
                driver.send(skeleton_array(stamp_ns(index), {1: walker[index]}), expect_outputs=index + 1,
                            timeout=20.0)
                if late is not None:
                    depth.publish(late)
                return driver.skeletons[-1].skeletons[0]

            first = frame(0)  # no depth image at all
            assert first.placement == Skeleton3D.REPROJECTION
            root_z = first.joints[0].z
            assert frame(1, late=depth_image(stamp_ns(1), root_z)).placement == Skeleton3D.REPROJECTION
            assert frame(2, depth_image(stamp_ns(2) - 10**8, root_z)).placement == Skeleton3D.REPROJECTION  # 0.1 s
            depth.publish(depth_image(stamp_ns(3), root_z, encoding="rgb8"))
            assert driver.spin_until(lambda: "depth.invalid_image" in lifter.stats.dropped(), 3.0)
            assert frame(3).placement == Skeleton3D.REPROJECTION
            kept = len(lifter._depth)
            depth.publish(depth_image(stamp_ns(4), root_z, size=500))  # refused from its header, never decoded
            assert driver.spin_until(lambda: "depth.size_mismatch" in lifter.stats.dropped(), 3.0)
            assert frame(4).placement == Skeleton3D.REPROJECTION and len(lifter._depth) == kept
            assert frame(5, depth_image(stamp_ns(5), np.inf, encoding="32FC1")).placement == \
                Skeleton3D.REPROJECTION  # absurd values are holes
            placements = [frame(i, depth_image(stamp_ns(i), driver.skeletons[-1].skeletons[0].joints[0].z))
                          for i in range(6, 12)]
            assert all(s.placement == Skeleton3D.DEPTH and s.placed for s in placements)
            expected = {"masked.depth.no_image": 5, "masked.depth.arrived_late": 1, "dropped.depth.size_mismatch": 1,
                        "masked.depth.too_few_samples": 1, "masked.depth.placed": 6,
                        "dropped.depth.invalid_image": 1}
            assert driver.spin_until(lambda: all(driver.diagnostic_values().get(key) == str(count)
                                                 for key, count in expected.items()), 5.0), \
                driver.diagnostic_values()
            assert lifter.lifecycle_state == "active"
        finally:
            driver.close()


def test_depth_wait_and_reliable_depth(context, tmp_path) -> None:
    """depth_reliable: a best-effort depth publisher is counted (depth.incompatible_qos), a reliable one serves.
    depth_wait: an image published after its keypoints still places that frame (the worker waits, bounded); with
    depth_wait 0 (set live) the frame is placed from 2D and the late image counted (depth.arrived_late). Before
    any image arrived (depth not streaming) nothing waits."""
    with lifter_node(context, SHIPPED, use_depth=True, depth_reliable=True, depth_wait=0.2,
                     depth_tolerance=0.01) as lifter:
        driver = Driver(context, lifter)
        best_effort = driver.node.create_publisher(Image, "depth", rclpy.qos.qos_profile_sensor_data)
        reliable = driver.node.create_publisher(Image, "depth", rclpy.qos.QoSProfile(
            depth=5, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE))
        try:
            driver.wait_connected()
            assert driver.spin_until(lambda: "depth.incompatible_qos" in lifter.stats.dropped(), 10.0), \
                lifter.stats.dropped()
            assert best_effort.get_subscription_count() == 0 and reliable.get_subscription_count() == 1
            driver.send_camera_info(lifter)
            walker = walking_pixels(4)

            def send(index: int) -> None:
                driver.spin_until(lambda: False, PACE_S)
                driver.send(skeleton_array(stamp_ns(index), {1: walker[index]}))

            def late_image(index: int, root_z: float) -> Skeleton3D:
                """Keypoints first; their image 0.05 s later; the frame's output."""
                send(index)
                driver.spin_until(lambda: False, 0.05)
                reliable.publish(depth_image(stamp_ns(index), root_z))
                assert driver.spin_until(lambda: len(driver.skeletons) > index, 20.0)
                return driver.skeletons[index].skeletons[0]

            send(0)  # no image yet: depth is not streaming, nothing waits
            assert driver.spin_until(lambda: len(driver.skeletons) == 1, 20.0)
            root_z = driver.skeletons[0].skeletons[0].joints[0].z
            assert driver.skeletons[0].skeletons[0].placement == Skeleton3D.REPROJECTION
            reliable.publish(depth_image(stamp_ns(1), root_z))
            assert driver.spin_until(lambda: len(lifter._depth) == 1, 5.0)
            send(1)
            assert driver.spin_until(lambda: len(driver.skeletons) == 2, 20.0)
            assert driver.skeletons[1].skeletons[0].placement == Skeleton3D.DEPTH
            assert late_image(2, root_z).placement == Skeleton3D.DEPTH  # waited for it
            assert lifter.set_parameters([rclpy.parameter.Parameter("depth_wait", value=0.0)])[0].successful
            assert late_image(3, root_z).placement == Skeleton3D.REPROJECTION
            assert driver.spin_until(lambda: lifter.stats.masked().get("depth.arrived_late") == 1, 5.0), \
                lifter.stats.masked()
            assert lifter.stats.masked()["depth.no_image"] == 2  # frames 0 and 3
        finally:
            driver.close()
