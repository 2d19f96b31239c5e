"""yolo_ros and ros4hri adapters on look-alike messages (yolo_msgs / hri_msgs are not installed here: objects
with the same fields stand in), and the mpm_input_adapter relay node's configure checks (real rclpy)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
from mpm_msgs.msg import Skeleton2DArray
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from mpm_ros import messages
from mpm_ros.adapter_node import TABLE, AdapterNode
from mpm_ros.input_adapters import MAX_PENDING_STAMPS, IdMap, Ros4HriBatcher, YoloRosAdapter, unavailable

T0 = 1_700_000_000_000_000_000


def header(stamp: int) -> Header:
    return Header(stamp=messages.time_from_ns(stamp), frame_id="cam")


def yolo_detection(track: str, points: dict[int, tuple[float, float, float]], name: str = "person") -> NS:
    """A yolo_msgs/Detection look-alike: keypoints.data[] of KeyPoint2D(id 1-based, point.x/y, score)."""
    data = [NS(id=i, point=NS(x=x, y=y), score=s) for i, (x, y, s) in points.items()]
    return NS(class_id=0, class_name=name, score=0.9, id=track, keypoints=NS(data=data))


def full_body(x0: float) -> dict[int, tuple[float, float, float]]:
    return {i: (x0 + 3 * i, 100 + 10 * i, 0.9) for i in range(1, 18)}


class Drops(dict):
    def __call__(self, reason: str) -> None:
        self[reason] = self.get(reason, 0) + 1


def test_yolo_densifies_maps_string_ids_and_keeps_persons() -> None:
    drops = Drops()
    adapter = YoloRosAdapter(drops)
    sparse = {1: (10.0, 20.0, 0.8), 17: (30.0, 40.0, 0.7)}
    msg = NS(header=header(T0), detections=[yolo_detection("42", sparse), yolo_detection("7", full_body(0)),
                                            yolo_detection("9", full_body(50), name="dog"),
                                            yolo_detection("5", {0: (1.0, 1.0, 1.0)})])
    out = adapter.convert(msg)
    assert isinstance(out, Skeleton2DArray) and out.header.frame_id == "cam"
    assert [s.track_id for s in out.skeletons] == [1, 2] and drops == {"bad_keypoint_ids": 1}
    first = out.skeletons[0]
    assert first.layout == "coco17" and len(first.keypoints) == 17
    assert (first.keypoints[0].x, first.keypoints[0].confidence) == (10.0, pytest.approx(0.8))
    assert [k.confidence for k in first.keypoints[1:16]] == [0.0] * 15  # absent = confidence 0
    again = adapter.convert(NS(header=header(T0 + 1), detections=[yolo_detection("7", full_body(1)),
                                                                  yolo_detection("42", sparse)]))
    assert [s.track_id for s in again.skeletons] == [2, 1], "string ids must map to the same uint32 ids"


def test_yolo_untracked_detections_get_tracker_ids() -> None:
    adapter = YoloRosAdapter(Drops())
    ids = []
    for t in range(3):
        msg = NS(header=header(T0 + t * 33_000_000), detections=[
            yolo_detection("", full_body(300 - 2 * t)), yolo_detection("", full_body(20 + 2 * t))])
        ids.append([s.track_id for s in adapter.convert(msg).skeletons])
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 2


def hri_skeleton(stamp: int, u: float) -> NS:
    """hri_msgs/Skeleton2D look-alike: 18 NormalizedPointOfInterest2D(x, y, c) in [0, 1]."""
    return NS(header=header(stamp), skeleton=[NS(x=u, y=i / 20, c=0.9) for i in range(18)])


def test_ros4hri_scales_maps_and_batches_bodies_of_one_stamp() -> None:
    drops = Drops()
    batcher = Ros4HriBatcher(drops)
    assert batcher.set_tracked(["anna", "bert"]) == ({"anna", "bert"}, set())
    assert batcher.add("anna", hri_skeleton(T0, 0.25), 640, 480) == [], "bert has not reported this stamp yet"
    [batch] = batcher.add("bert", hri_skeleton(T0, 0.75), 640, 480)
    assert messages.ns_from_time(batch.header.stamp) == T0
    assert [s.track_id for s in batch.skeletons] == [1, 2]
    anna = batch.skeletons[0]
    assert anna.layout == "coco17" and len(anna.keypoints) == 17
    assert anna.keypoints[0].x == pytest.approx(160.0) and anna.keypoints[0].y == pytest.approx(0.0)
    assert anna.keypoints[1].y == pytest.approx(14 / 20 * 480)  # COCO left eye = hri LEFT_EYE (14)
    assert batcher.add("anna", hri_skeleton(T0, 0.3), 640, 480) == [] and drops == {"late_body": 1}


def test_ros4hri_flushes_a_stamp_a_body_never_sends() -> None:
    batcher = Ros4HriBatcher(Drops())
    batcher.set_tracked(["anna", "gone"])
    out = []
    for k in range(MAX_PENDING_STAMPS + 1):
        out += batcher.add("anna", hri_skeleton(T0 + k, 0.5), 100, 100)
    assert len(out) == 1 and messages.ns_from_time(out[0].header.stamp) == T0
    assert [s.track_id for s in out[0].skeletons] == [1]
    assert batcher.set_tracked(["anna"]) == (set(), {"gone"})
    assert len(batcher.add("anna", hri_skeleton(T0 + 10, 0.5), 100, 100)) == MAX_PENDING_STAMPS + 1


def test_id_map_is_stable_and_never_reuses() -> None:
    ids = IdMap()
    assert [ids("a"), ids("b"), ids("a")] == [1, 2, 1]


def test_unavailable_message_packages_are_named() -> None:
    assert "yolo_msgs" in unavailable("yolo_ros") and "hri_msgs" in unavailable("ros4hri")


@pytest.mark.parametrize("input_format, package", [("yolo_ros", "yolo_msgs"), ("ros4hri", "hri_msgs")])
def test_relay_refuses_configure_without_the_message_package(context, input_format, package) -> None:
    """Here neither package is installed: the relay starts, refuses configure and says which package it needs
    (with the package installed — a real ROS workspace — it subscribes; only such an install exercises that)."""
    if unavailable(input_format) is None:
        pytest.skip(f"{package} is installed here")
    node = AdapterNode(context=context, parameter_overrides=[Parameter("input_format", value=input_format)])
    try:
        assert node.lifecycle_state == "unconfigured"
    finally:
        node.destroy_node()


def test_relay_parameters_are_validated(context) -> None:
    node = AdapterNode(context=context, parameter_overrides=[Parameter("input_format", value="openpose")])
    try:
        assert node.lifecycle_state == "unconfigured"
        assert "must be one of" in " ".join(TABLE.validate(TABLE.read(node)))
        assert not node.set_parameters([Parameter("image_width", value=0)])[0].successful
        assert node.set_parameters([Parameter("input_format", value="ros4hri")])[0].successful
    finally:
        node.destroy_node()


@pytest.mark.parametrize("input_format", ["yolo_ros", "ros4hri"])
def test_lifter_has_one_input_and_refuses_input_format(context, tmp_path, input_format) -> None:
    """One adapter path: the relay. The lifter's only input is raw Skeleton2DArray, so `-p input_format:=...`
    (which ROS would drop silently) refuses its configure, naming the parameter."""
    from node_support import lifter_overrides, tiny_checkpoint

    from mpm_ros.lift_node import LifterNode

    lifter = LifterNode(argv=["lift_node", "--ros-args", "-p", f"input_format:={input_format}"], context=context,
                        parameter_overrides=lifter_overrides(tiny_checkpoint(tmp_path)))
    try:
        assert lifter.lifecycle_state == "unconfigured"
        assert "no such parameter 'input_format'" in " ".join(lifter._refused.values())
    finally:
        lifter.destroy_node()


def test_lifter_lifts_what_the_yolo_adapter_delivers(context, tmp_path) -> None:
    """What the relay publishes (`AdapterNode._publish`: the adapter's Skeleton2DArray, as is) reaches the lifter on
    `keypoints` and becomes 3D with the detections' stamps; the relay's subscription itself needs a real yolo_msgs."""
    from mpm_msgs.msg import Skeleton3DArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data

    from node_support import lifter_node, tiny_checkpoint, walking_pixels

    pixels = walking_pixels(12)  # (T, 17, 2) H36M-17 pixels of one walker
    coco_from_h36m = {0: 9, 1: 10, 2: 10, 3: 10, 4: 10, 5: 11, 6: 14, 7: 12, 8: 15, 9: 13, 10: 16, 11: 4, 12: 1,
                      13: 5, 14: 2, 15: 6, 16: 3}  # eyes and ears at the head
    adapter, received = YoloRosAdapter(Drops()), []
    period = 33_333_333
    with lifter_node(context, tiny_checkpoint(tmp_path)) as lifter:
        relay = lifter.create_publisher(Skeleton2DArray, "keypoints", qos_profile_sensor_data)  # the relay's output
        subscription = lifter.create_subscription(Skeleton3DArray, "skeletons3d", received.append, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(lifter)
        for _ in range(200):
            if relay.get_subscription_count():
                break
            executor.spin_once(timeout_sec=0.05)
        for t in range(12):
            points = {c + 1: (*pixels[t, h], 0.9) for c, h in coco_from_h36m.items()}  # yolo ids are 1-based
            relay.publish(adapter.convert(NS(header=header(T0 + t * period), detections=[yolo_detection("a", points)])))
            for _ in range(200):  # one frame at a time: the worker's queue drops the oldest when full
                if len(received) > t:
                    break
                executor.spin_once(timeout_sec=0.05)
        executor.remove_node(lifter)
        lifter.destroy_subscription(subscription)
        lifter.destroy_publisher(relay)
    assert len(received) == 12
    assert [messages.ns_from_time(m.header.stamp) for m in received] == [T0 + t * period for t in range(12)]
