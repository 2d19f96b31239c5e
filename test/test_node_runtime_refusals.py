"""Runtime refusals say what configure says, for all three nodes (issue 20): a float set as an int and an unknown
name are refused by the parameter table's sentence, not rclpy's ("Wrong parameter type, expected '3' got '2'",
"Invalid access to undeclared parameter(s): []"), and the old value stays."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402

from mpm_ros.adapter_node import AdapterNode  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from mpm_ros.pose2d_node import Pose2DNode  # noqa: E402

NODES = {"lifter": LifterNode, "pose2d": Pose2DNode, "adapter": AdapterNode}


@pytest.mark.parametrize("kind", sorted(NODES))
def test_a_wrong_type_gets_the_configure_sentence(context, kind) -> None:
    node = NODES[kind](argv=[kind], context=context, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        floats = [s for s in node.table.specs if type(s.default) is float]
        if floats:  # an int where a float belongs: the configure sentence with its hint
            spec = floats[0]
            value = int(spec.low or 1)
            expected = f"{spec.name}: expected float, got int {value} (write {value}.0)"
        else:  # the adapter has no float parameter: a string where an int belongs
            spec = next(s for s in node.table.specs if type(s.default) is int)
            value, expected = "30", f"{spec.name}: expected int, got str '30'"
        before = node.get_parameter(spec.name).value
        for call in (node.set_parameters, node.set_parameters_atomically):  # the API and the service path
            result = call([Parameter(spec.name, value=value)])
            result = result[0] if isinstance(result, list) else result
            assert not result.successful and result.reason == expected == spec.problem(value)
        assert node.get_parameter(spec.name).value == before
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", sorted(NODES))
def test_an_unknown_name_is_no_such_parameter(context, kind) -> None:
    node = NODES[kind](argv=[kind], context=context, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        for call in (node.set_parameters, node.set_parameters_atomically):
            result = call([Parameter("window", value=-1)])
            result = result[0] if isinstance(result, list) else result
            assert not result.successful and result.reason.startswith(f"no such parameter 'window' on {node.get_name()}")
        assert not node.has_parameter("window")
    finally:
        node.destroy_node()
