"""Foundation tests: every package imports, and mpm_msgs round-trips between two real rclpy nodes."""
import importlib
import time

import pytest

rclpy = pytest.importorskip("rclpy")


@pytest.mark.parametrize("module", ["mpm_model", "mpm_ros", "mpm_msgs.msg", "rclpy", "visualization_msgs.msg"])
def test_imports(module: str) -> None:
    importlib.import_module(module)


def _roundtrip(msg_type, message):
    """Publish `message` from one node and return what a second node receives."""
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        talker = rclpy.create_node("talker", context=context)
        listener = rclpy.create_node("listener", context=context)
        received = []
        listener.create_subscription(msg_type, "roundtrip", received.append, 10)
        publisher = talker.create_publisher(msg_type, "roundtrip", 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(talker)
        executor.add_node(listener)
        deadline = time.monotonic() + 10.0
        while not received and time.monotonic() < deadline:
            publisher.publish(message)
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        return received[0] if received else None
    finally:
        rclpy.shutdown(context=context)


def test_skeleton2d_array_roundtrip() -> None:
    from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray

    msg = Skeleton2DArray()
    msg.header.frame_id = "camera_optical"
    msg.header.stamp.sec = 12
    msg.header.stamp.nanosec = 345
    msg.skeletons = [
        Skeleton2D(track_id=7, layout=Skeleton2D.LAYOUT_COCO17,
                   keypoints=[Keypoint2D(x=float(i), y=2.0 * i, confidence=0.5) for i in range(17)])
    ]
    got = _roundtrip(Skeleton2DArray, msg)
    assert got is not None, "no Skeleton2DArray received within 10 s"
    assert got.header.frame_id == "camera_optical"
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (12, 345)
    assert got.skeletons[0].track_id == 7 and got.skeletons[0].layout == "coco17"
    assert [k.x for k in got.skeletons[0].keypoints] == [float(i) for i in range(17)]


def test_skeleton3d_array_roundtrip() -> None:
    from geometry_msgs.msg import Point
    from mpm_msgs.msg import Skeleton3D, Skeleton3DArray

    msg = Skeleton3DArray()
    msg.header.frame_id = "camera_optical"
    msg.skeletons = [
        Skeleton3D(track_id=2, joints=[Point(x=0.1 * i, y=0.0, z=3.0) for i in range(17)],
                   confidence=[1.0] * 17, masked=[i % 2 == 0 for i in range(17)])
    ]
    got = _roundtrip(Skeleton3DArray, msg)
    assert got is not None, "no Skeleton3DArray received within 10 s"
    skeleton = got.skeletons[0]
    assert skeleton.track_id == 2
    assert [round(p.x, 6) for p in skeleton.joints] == [round(0.1 * i, 6) for i in range(17)]
    assert list(skeleton.masked) == [i % 2 == 0 for i in range(17)]
