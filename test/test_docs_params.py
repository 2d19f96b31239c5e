"""docs/NODE.md's parameter table lists exactly the parameters of mpm_ros.params (names and defaults).

Adding, removing, renaming a parameter or changing a default without the docs fails here. To regenerate the
table from the single table in mpm_ros/params.py:

    .venv/bin/python test/test_docs_params.py      # prints the markdown rows; paste over the table in docs/NODE.md
"""
from __future__ import annotations

import ast
from pathlib import Path

from mpm_ros import params

NODE_MD = Path(__file__).resolve().parents[1] / "docs" / "NODE.md"
SECTION = "## Parameters"
HEADER = "| name | type | default | range / choices | set | description |"


def render_table(specs=params.PARAMS) -> str:
    """The markdown parameter table of docs/NODE.md, one row per ParamSpec, in table order."""
    rows = [HEADER, "| --- | --- | --- | --- | --- | --- |"]
    for spec in specs:
        if spec.choices:
            limits = ", ".join(spec.choices)
        elif spec.low is not None:
            limits = f"[{spec.low}, {spec.high}]"
        else:
            limits = ""
        when = "read-only" if spec.read_only else "live" if spec.live else "configure"
        description = spec.description.replace("|", "\\|")
        rows.append(f"| `{spec.name}` | {type(spec.default).__name__} | `{spec.default!r}` | {limits} | {when} | "
                    f"{description} |")
    return "\n".join(rows)


def documented_parameters(text: str) -> list[tuple[str, str]]:
    """(name, default cell) of every row of the table under the '## Parameters' heading."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end >= 0 else len(text)]
    assert HEADER in section, f"no parameter table ({HEADER!r}) under {SECTION!r} in {NODE_MD}"
    rows = []
    for line in section[section.index(HEADER):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows.append((cells[0].strip("`"), cells[2]))
    return rows


def test_node_md_lists_exactly_the_parameters() -> None:
    names = [name for name, _ in documented_parameters(NODE_MD.read_text(encoding="utf-8"))]
    assert len(names) == len(set(names)), f"parameters documented twice: {sorted(n for n in names if names.count(n) > 1)}"
    missing, stale = sorted(set(params.SPECS) - set(names)), sorted(set(names) - set(params.SPECS))
    assert not missing and not stale, (f"docs/NODE.md parameter table is out of date: undocumented {missing}, no "
                                       f"longer parameters {stale}; regenerate it: python test/test_docs_params.py")


def test_node_md_defaults_are_the_table_defaults() -> None:
    wrong = {}
    for name, cell in documented_parameters(NODE_MD.read_text(encoding="utf-8")):
        spec = params.SPECS.get(name)
        if spec is None:
            continue  # reported by the test above
        try:
            value = ast.literal_eval(cell.strip("`"))
        except (ValueError, SyntaxError):
            value = cell
        if type(value) is not type(spec.default) or value != spec.default:
            wrong[name] = f"docs {cell} vs params.py {spec.default!r}"
    assert not wrong, f"docs/NODE.md defaults differ from mpm_ros/params.py: {wrong}"


def test_renderer_round_trips() -> None:
    rendered = render_table()
    assert [n for n, _ in documented_parameters(f"{SECTION}\n{rendered}\n")] == [s.name for s in params.PARAMS]


if __name__ == "__main__":
    print(render_table())
