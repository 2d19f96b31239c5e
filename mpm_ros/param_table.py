"""The parameter table every node here uses (ROS-free; rclpy is imported only to declare): one `ParamSpec` per
parameter, the generic rules (type, inclusive range, choices), and the same refusals for every node.

Values the library consumes are declared on its records (mpm_model.tunable: default, range, description) and
their specs are made from those fields (`specs_from`), so a default or range is never written twice; `build()`
turns validated values into the node's record, nested records (e.g. StreamOptions) included, with no
field-by-field copy. `declare()` records (instead of raising) overrides ROS itself rejects and
`command_line_problems()` catches the `-p` overrides ROS drops without a word (unknown names, and a wrong type when
a params file sets the same name), so configure fails with the reason rather than the process dying or a value
being silently ignored. `live` parameters apply while the node runs; the rest are refused while configured.
"""
from __future__ import annotations

import array
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Collection, Sequence, get_type_hints

import yaml

from mpm_model.tunable import declared, value_problem
from mpm_ros.inputs import clip

Validate = Callable[[dict[str, Any]], list[str]]


def ros_value(value: Any) -> Any:
    """A parameter value as the records hold it: ROS arrays (array.array from a service, lists from YAML) → tuple."""
    return tuple(value) if isinstance(value, (list, array.array)) else value


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    low: float | None = None  # inclusive range for int/float parameters
    high: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    live: bool = False  # applied at once when set on a configured node (else: needs a reconfigure)

    def problem(self, value: Any) -> str | None:
        """Why `value` cannot be this parameter's (exact ROS type, range, choices), or None."""
        return value_problem(self.name, self.default, ros_value(value), self.low, self.high, self.choices)


AUTOSTART = ParamSpec("autostart", True, "Configure and activate on start-up (false: wait for lifecycle "
                      "transitions)", read_only=True)


def specs_from(record_type: type, live: bool = False, descriptions: dict[str, str] | None = None,
               configure_only: Sequence[str] = ()) -> tuple[ParamSpec, ...]:
    """One spec per declared field of `record_type` (mpm_model.tunable), live unless in `configure_only`; a
    node may describe a field in its own words (`descriptions`)."""
    return tuple(ParamSpec(f.name, f.default, (descriptions or {}).get(f.name, f.metadata["description"]),
                           f.metadata["low"], f.metadata["high"], f.metadata["choices"],
                           live=live and f.name not in configure_only) for f in declared(record_type))


def descriptor(spec: ParamSpec) -> Any:
    """rcl_interfaces ParameterDescriptor for one spec (imported lazily: this module stays ROS-free)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description + (f" (one of {', '.join(spec.choices)})" if spec.choices else "")
    desc = ParameterDescriptor(name=spec.name, description=text, read_only=spec.read_only)
    if isinstance(spec.default, bool) or spec.low is None:
        return desc
    if isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    else:
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high))]
    return desc


def _ros_args(argv: list[str]) -> list[str]:
    """The arguments between --ros-args and the next --ros-args terminator (--), possibly several blocks."""
    inside, out = False, []
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--":
            inside = False
        elif inside:
            out.append(arg)
    return out


def _nested(record_type: type) -> dict[str, type | None]:
    """Field name → its record type when that field is itself a dataclass record, else None."""
    hints = get_type_hints(record_type)
    return {f.name: hints[f.name] if dataclasses.is_dataclass(hints[f.name]) else None
            for f in dataclasses.fields(record_type)}


def _fields(record_type: type) -> list[str]:
    """The flat parameter names a record is built from (nested records contribute their own fields)."""
    return [n for name, kind in _nested(record_type).items() for n in (_fields(kind) if kind else [name])]


class ParamTable:
    """A node's parameters, in declaration order."""

    def __init__(self, specs: Sequence[ParamSpec]) -> None:
        self.specs = tuple(specs)
        self.by_name = {spec.name: spec for spec in self.specs}
        if len(self.by_name) != len(self.specs):
            raise ValueError("a parameter is declared twice")

    # ---- ROS-free rules ---------------------------------------------------------------------------------
    def validate(self, values: dict[str, Any]) -> list[str]:
        """Every unknown/missing name and type/range/choice problem of a full set of values (empty = valid)."""
        errors = [f"unknown parameter {name!r}" for name in sorted(set(values) - set(self.by_name))]
        errors += [f"missing parameter {name!r}" for name in self.by_name if name not in values]
        return errors + [p for spec in self.specs if spec.name in values and (p := spec.problem(values[spec.name]))]

    def build(self, record_type: type, values: dict[str, Any]) -> Any:
        """`record_type` from validated values; a field whose type is a dataclass is built from the same values."""
        return record_type(**{name: self.build(kind, values) if kind else values[name]
                              for name, kind in _nested(record_type).items()})

    @staticmethod
    def record_fields(record_type: type) -> list[str]:
        return _fields(record_type)

    def no_such_parameter(self, name: str, node_name: str) -> str:
        """The one sentence for an unknown name, at configure (a `-p` override) and at a runtime set alike."""
        return f"no such parameter {clip(name)!r} on {node_name} (its parameters: {sorted(self.by_name)})"

    def needs_reconfigure(self, names: Sequence[str]) -> list[str]:
        """The parameters among `names` that only take effect at configure (refused while configured)."""
        return [name for name in names if name in self.by_name and not self.by_name[name].live]

    def runtime_refusal(self, current: dict[str, Any], changes: dict[str, Any], validate: Validate,
                        configured_state: str | None) -> str | None:
        """Why a runtime set must be refused, or None: it may not add a problem configure would refuse, and a
        non-live parameter is read-only while the node is configured (`configured_state`, None when not)."""
        values = current | {name: value for name, value in changes.items() if name in self.by_name}
        known = set(validate(current))
        errors = [e for e in validate(values) if e not in known]
        if errors:
            return "; ".join(errors)
        structural = self.needs_reconfigure(list(changes)) if configured_state is not None else []
        if structural:
            return (f"{', '.join(structural)}: only applied at configure (read at configure, read-only while the "
                    f"node is {configured_state}); deactivate and clean up, set it, then configure again")
        return None

    def command_line_problems(self, argv: list[str], node_name: str, ros_declared: Collection[str] = ()
                              ) -> dict[str, str]:
        """{name: reason} for `-p name:=value` overrides ROS would drop silently: unknown names and wrong types,
        in the sentences a runtime set uses. `ros_declared`: the parameters rclpy declares itself on the node
        (`use_sim_time`, `start_type_description_service`): known, and left to ROS.

        ROS parses a -p value as YAML; when a params file sets the same name, a value of another type (e.g.
        `min_confidence:=abc`) is silently discarded in favour of the file's value, so the type is checked here.
        """
        args, problems = _ros_args(argv), {}
        for flag, assignment in zip(args, args[1:]):
            if flag not in ("-p", "--param") or ":=" not in assignment:
                continue
            name, text = assignment.split(":=", 1)
            spec = self.by_name.get(name)
            if spec is None:
                if name not in ros_declared:
                    problems[name] = self.no_such_parameter(name, node_name)
                continue
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
            type_error = spec.problem(value) if type(value) is not type(spec.default) else None  # range: configure
            if type_error:
                problems[name] = type_error
        return problems

    # ---- on a node ----------------------------------------------------------------------------------------
    def declare(self, node: Any) -> dict[str, str]:
        """Declare every parameter on `node`; {name: reason} for overrides ROS refused (type or range), declared
        with the default instead so the node still starts and configure fails with the reason — the sentence a
        runtime set of that value gets (ParamSpec.problem), not ROS's."""
        from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

        refused = {}
        for spec in self.specs:
            try:
                node.declare_parameter(spec.name, spec.default, descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                override = node._parameter_overrides.get(spec.name)
                refused[spec.name] = (override is not None and spec.problem(override.value)) or f"{spec.name}: {exc}"
                node.declare_parameter(spec.name, spec.default, descriptor(spec), ignore_override=True)
        return refused

    def read(self, node: Any) -> dict[str, Any]:
        """Current values of every parameter in the table."""
        return {spec.name: ros_value(node.get_parameter(spec.name).value) for spec in self.specs}
