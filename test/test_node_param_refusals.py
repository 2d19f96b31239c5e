"""The same parameter refusals for all three nodes (ServingNode + ParamTable): a `-p` override ROS would drop
silently (unknown name; wrong type) refuses configure, naming it, and a runtime set of an invalid value is refused
while the old value stays."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from mpm_ros.adapter_node import AdapterNode  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from mpm_ros.pose2d_node import Pose2DNode  # noqa: E402

NODES = {"lifter": (LifterNode, "max_tracks", "min_confidence:=abc"),
         "pose2d": (Pose2DNode, "max_people", "min_confidence:=abc"),
         "adapter": (AdapterNode, "image_width", "image_width:=wide")}


@pytest.mark.parametrize("kind", sorted(NODES))
@pytest.mark.parametrize("override", ["no_such_param:=5", "wrong_type"])
def test_dropped_command_line_overrides_refuse_configure(context, kind, override) -> None:
    cls, _, wrong_type = NODES[kind]
    assignment = wrong_type if override == "wrong_type" else override
    argv = [kind, "--ros-args", "-p", assignment]
    node = cls(argv=argv, context=context, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        name = assignment.split(":=")[0]
        assert name in " ".join(node._refused.values())
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.lifecycle_state == "unconfigured"
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", sorted(NODES))
def test_invalid_runtime_set_is_refused_by_every_node(context, kind) -> None:
    cls, name, _ = NODES[kind]
    node = cls(argv=[kind], context=context, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        before = node.get_parameter(name).value
        result = node.set_parameters([Parameter(name, value=-1)])[0]
        assert not result.successful and name in result.reason
        assert node.get_parameter(name).value == before
    finally:
        node.destroy_node()
