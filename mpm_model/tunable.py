"""A tunable value is declared once, on the dataclass field that carries it: default, inclusive range, and the
sentence that describes it. The record checks itself when built, and a ROS parameter table is made from the same
fields (mpm_ros.param_table.specs_from), so no default or range is written twice. Torch-free."""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import field
from typing import Any


def tunable(default: Any, description: str, low: float | None = None, high: float | None = None,
            choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its declaration (range `low`..`high` inclusive for numbers, or `choices`)."""
    return field(default=default, metadata={"description": description, "low": low, "high": high,
                                            "choices": tuple(choices)})


def declared(record_type: type) -> list[dataclasses.Field]:
    """The fields of `record_type` declared with tunable(), in order."""
    return [f for f in dataclasses.fields(record_type) if "description" in f.metadata]


def _type_fits(default: Any, value: Any, strict: bool) -> bool:
    if type(value) is type(default):
        return True
    if strict or isinstance(value, bool) or isinstance(default, bool):
        return False
    return isinstance(default, float) and isinstance(value, numbers.Real) or \
        isinstance(default, int) and isinstance(value, numbers.Integral)


def value_problem(name: str, default: Any, value: Any, low: float | None, high: float | None,
                  choices: tuple[str, ...], strict: bool = True) -> str | None:
    """Why `value` does not fit the declaration (range, choices, and the default's type: exactly, as ROS
    parameters are typed, or with `strict=False` any integer for an int and any real number for a float)."""
    if not _type_fits(default, value, strict):
        hint = f" (write {value}.0)" if type(default) is float and type(value) is int else ""
        return f"{name}: expected {type(default).__name__}, got {type(value).__name__} {value!r}{hint}"
    if low is not None and not low <= value <= high:
        return f"{name}={value!r} is out of range [{low}, {high}]"
    if choices and value not in choices:
        return f"{name}={value!r} must be one of {list(choices)}"
    return None


def problems(record: Any) -> list[str]:
    """Every declared field of `record` that does not fit its declaration, as sentences."""
    found = []
    for f in declared(type(record)):
        m = f.metadata
        problem = value_problem(f.name, f.default, getattr(record, f.name), m["low"], m["high"], m["choices"],
                                strict=False)
        if problem:
            found.append(problem)
    return found


def check(record: Any) -> None:
    """Raise ValueError naming every problem (for __post_init__)."""
    found = problems(record)
    if found:
        raise ValueError(f"invalid {type(record).__name__}: " + "; ".join(found))
