"""Declare, read and validate a node's ParamSpec table (mpm_ros.params.ParamSpec): the generic rules shared by
the front-end nodes (type, inclusive range, choices); node-specific cross-checks stay with each table."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from mpm_ros.params import ParamSpec, descriptor


def validate(values: dict[str, Any], specs: Sequence[ParamSpec]) -> list[str]:
    """Every type/range/choice problem of a full set of values, as sentences (empty = valid)."""
    names = {spec.name for spec in specs}
    errors = [f"unknown parameter {n!r}" for n in sorted(set(values) - names)]
    errors += [f"missing parameter {spec.name!r}" for spec in specs if spec.name not in values]
    for spec in specs:
        if spec.name not in values:
            continue
        value = values[spec.name]
        if type(value) is not type(spec.default):
            hint = f" (write {value}.0)" if isinstance(spec.default, float) and type(value) is int else ""
            errors.append(f"{spec.name}: expected {type(spec.default).__name__}, got {type(value).__name__} "
                          f"{value!r}{hint}")
        elif spec.low is not None and not spec.low <= value <= spec.high:
            errors.append(f"{spec.name}={value!r} is out of range [{spec.low}, {spec.high}]")
        elif spec.choices and value not in spec.choices:
            errors.append(f"{spec.name}={value!r} must be one of {list(spec.choices)}")
    return errors


def declare(node: Any, specs: Sequence[ParamSpec]) -> dict[str, str]:
    """Declare every parameter; {name: reason} for overrides ROS refused (declared with the default instead, so
    the node starts and configure fails with the reason)."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    refused = {}
    for spec in specs:
        try:
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            refused[spec.name] = f"{spec.name}: {exc}"
            node.declare_parameter(spec.name, spec.default, descriptor(spec), ignore_override=True)
    return refused


def read(node: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}


def refusal(current: dict[str, Any], changes: dict[str, Any], validate_values: Callable[[dict[str, Any]], list[str]],
            configured_state: str | None) -> str | None:
    """Why a runtime parameter set must be refused, or None to accept it: it may not add a problem configure
    would refuse, and (every parameter being read at configure) nothing changes while the node is configured
    (`configured_state` = its lifecycle state then, None while unconfigured)."""
    known = set(validate_values(current))
    errors = [e for e in validate_values(current | changes) if e not in known]
    if errors:
        return "; ".join(errors)
    if configured_state is not None:
        return (f"parameters are read at configure and the node is {configured_state}: deactivate and clean up, "
                "set them, then configure again")
    return None
