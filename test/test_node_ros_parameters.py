"""Issue 25 items 6-7 on all three nodes: one sentence per refusal kind, the same at configure and at a runtime set,
and the parameters ROS declares itself (use_sim_time, ...) accepted by `-p` and a runtime set, with sim time
honoured where the lifter reads a clock (the receive clock its stamps are judged against)."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402

from mpm_ros.adapter_node import AdapterNode  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from mpm_ros.pose2d_node import Pose2DNode  # noqa: E402
from node_support import (T0_NS, Driver, lifter_node, lifter_overrides, skeleton_array,  # noqa: E402
                          tiny_checkpoint, walking_pixels)

NODES = {"lifter": LifterNode, "pose2d": Pose2DNode, "adapter": AdapterNode}
OFF = Parameter("autostart", value=False)


def _runtime_reason(node, name: str, value) -> str:
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful
    return result.reason


@pytest.mark.parametrize("kind", sorted(NODES))
def test_an_unknown_name_gets_one_sentence(context, kind) -> None:
    """On main: "unknown parameter 'window' (-p …)" at configure, "no such parameter 'window' on …" at a set."""
    node = NODES[kind](argv=[kind, "--ros-args", "-p", "window:=5"], context=context, parameter_overrides=[OFF])
    try:
        assert node._refused["window"] == _runtime_reason(node, "window", 5)
        assert node._refused["window"].startswith(f"no such parameter 'window' on {node.get_name()}")
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", sorted(NODES))
def test_an_out_of_range_value_gets_one_sentence(context, kind) -> None:
    """On main: ROS's "Invalid parameter value (0) for parameter. Reason: … Min: 1, Max: 100" at configure."""
    probe = NODES[kind](argv=[kind], context=context, parameter_overrides=[OFF])
    spec = next(s for s in probe.table.specs if type(s.default) is int and s.low is not None)
    probe.destroy_node()
    value = int(spec.low) - 1
    node = NODES[kind](argv=[kind], context=context, parameter_overrides=[OFF, Parameter(spec.name, value=value)])
    try:
        assert node._refused[spec.name] == _runtime_reason(node, spec.name, value) == spec.problem(value)
        assert node._refused[spec.name] == f"{spec.name}={value} is out of range [{spec.low}, {spec.high}]"
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", sorted(NODES))
def test_a_wrong_type_on_the_command_line_gets_one_sentence(context, kind) -> None:
    probe = NODES[kind](argv=[kind], context=context, parameter_overrides=[OFF])
    spec = next(s for s in probe.table.specs if type(s.default) in (int, float) and not isinstance(s.default, bool))
    probe.destroy_node()
    node = NODES[kind](argv=[kind, "--ros-args", "-p", f"{spec.name}:=abc"], context=context,
                       parameter_overrides=[OFF])
    try:
        assert node._refused[spec.name] == _runtime_reason(node, spec.name, "abc") == spec.problem("abc")
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", sorted(NODES))
def test_use_sim_time_is_accepted_on_the_command_line_and_at_runtime(context, kind) -> None:
    """On main: "configure refused — unknown parameter 'use_sim_time'" and "no such parameter" at a set."""
    argv = [kind, "--ros-args", "-p", "use_sim_time:=true", "-p", "start_type_description_service:=false"]
    node = NODES[kind](argv=argv, context=context, parameter_overrides=[OFF])
    try:
        assert node._refused == {}, node._refused
        for value in (False, True):
            assert node.set_parameters([Parameter("use_sim_time", value=value)])[0].successful
            assert node.set_parameters_atomically([Parameter("use_sim_time", value=value)]).successful
        assert node.get_clock().ros_time_is_active, "the node's clock follows /clock"
    finally:
        node.destroy_node()


def test_the_lifter_configures_with_use_sim_time(context, tmp_path) -> None:
    argv = ["lift_node", "--ros-args", "-p", "use_sim_time:=true"]
    lifter = LifterNode(argv=argv, context=context, parameter_overrides=lifter_overrides(
        tiny_checkpoint(tmp_path), autostart=False, use_sim_time=True))
    try:
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
    finally:
        lifter.destroy_node()


def test_sim_time_is_the_receive_clock_for_stamps(context, tmp_path) -> None:
    """A bag played fast with --clock: 12 s of stamps (10 Hz) in a few seconds, keeping pace with /clock.
    Under use_sim_time every frame is accepted (judged against the node's clock); without it they are refused
    once 1 s ahead of the receive clock."""
    walker = walking_pixels(120)
    with lifter_node(context, tiny_checkpoint(tmp_path), use_sim_time=True) as lifter:
        driver = Driver(context, lifter)
        clock = driver.node.create_publisher(Clock, "/clock", 10)
        try:
            driver.wait_connected()
            assert driver.spin_until(lambda: clock.get_subscription_count() > 0, 10.0)
            driver.send_camera_info(lifter)
            for frame in range(120):
                stamp = T0_NS + frame * 100_000_000
                tick = Clock()
                tick.clock.sec, tick.clock.nanosec = stamp // 10**9, stamp % 10**9
                clock.publish(tick)
                driver.spin_until(lambda: lifter.get_clock().now().nanoseconds >= stamp, 1.0)
                driver.keypoints.publish(skeleton_array(stamp, {1: walker[frame]}))
                driver.spin_until(lambda: False, 0.01)
            driver.spin_until(lambda: len(driver.skeletons) >= 115, 5.0)
            assert lifter.stats.dropped().get("stamp_outlier", 0) == 0, lifter.stats.dropped()
            assert len(driver.skeletons) >= 100  # the rest: inference_queue_full on a loaded machine
        finally:
            driver.close()
