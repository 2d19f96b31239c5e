"""docs/ARCHITECTURE.md names every module of the product (mpm_model/, mpm_ros/) and no module that is gone, and no
two files of the repository differ only in case (they collide on macOS and Windows checkouts).

A module counts as named when its package's section ("## mpm_model", "## mpm_ros") holds its path relative to the
package or to the repository in backticks (`data/views.py`, `mpm_model/data/views.py`), or its file name in a
table row whose first cell names its folder (`data/` … `views.py`), or its dotted name (`mpm_model.data.views`).
Adding a module without a line for it fails here, as adding a parameter without docs/NODE.md fails
test_docs_params.py.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE_MD = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("mpm_model", "mpm_ros")
TOKEN = re.compile(r"`([^`]+)`")
PY_PATH = re.compile(r"^[\w/]+\.py$")


def product_modules(package: str) -> set[str]:
    """Paths relative to the package of every module but the package __init__ files."""
    return {p.relative_to(ROOT / package).as_posix() for p in (ROOT / package).rglob("*.py")
            if p.name != "__init__.py"}


def section(text: str, heading: str) -> str:
    start = text.index(heading + "\n") if heading + "\n" in text else text.index(heading + " ")
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else len(text)]


def named_paths(text: str, package: str) -> set[str]:
    """Every module path the package's section names (see the module docstring), existing or not."""
    named = set()
    for line in section(text, f"## {package}").splitlines():
        tokens = TOKEN.findall(line)
        cells = line.strip().strip("|").split(" | ") if line.startswith("|") else [line]
        folders = [t for t in TOKEN.findall(cells[0]) if t.endswith("/")] if line.startswith("|") else []
        for token in tokens:
            token = token.split("(")[0].strip()
            if token.startswith(package + "."):
                parts = token.split(".")[1:]
                named |= {"/".join(parts[:n]) + ".py" for n in range(1, len(parts) + 1)}
            elif PY_PATH.match(token):
                token = token.removeprefix(package + "/")  # a repository path names the module too
                named |= {token} | {folder + token for folder in folders}
    return named


def test_every_module_is_named_in_architecture_md() -> None:
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    missing = {package: sorted(product_modules(package) - named_paths(text, package)) for package in PACKAGES}
    assert not any(missing.values()), (f"modules not named in docs/ARCHITECTURE.md: {missing}; add a line for each "
                                       "to its package's table (path relative to the package, in backticks)")


def test_architecture_md_names_no_missing_module() -> None:
    """A path in a package's table that is no module of that package and no file of the repository is stale."""
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    for package in PACKAGES:
        modules = product_modules(package)
        for line in section(text, f"## {package}").splitlines():
            cells = line.strip().strip("|").split(" | ")
            folders = [t for t in TOKEN.findall(cells[0]) if t.endswith("/")] if line.startswith("|") else []
            for token in TOKEN.findall(line):
                if PY_PATH.match(token) and not (token in modules or (ROOT / token).is_file()
                                                 or any(folder + token in modules for folder in folders)):
                    raise AssertionError(f"docs/ARCHITECTURE.md ({package}) names {token!r}, which does not exist")


def test_the_finder_reads_folders_paths_and_dotted_names() -> None:
    text = ("## mpm_model\n| `data/` | `mocap.py`, `deploy/export.py` |\n"
            "| `files.py` | see `mpm_model.streaming.depth` |\n## mpm_ros\n| `lift_node.py` | |\n")
    assert named_paths(text, "mpm_model") >= {"data/mocap.py", "data/deploy/export.py", "deploy/export.py",
                                              "files.py", "streaming/depth.py"}
    assert "lift_node.py" not in named_paths(text, "mpm_model") and "lift_node.py" in named_paths(text, "mpm_ros")
    assert "streaming/x.py" in named_paths("## mpm_model\nsee `mpm_model/streaming/x.py`\n", "mpm_model")


def test_no_two_files_differ_only_in_case() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    by_lower: dict[str, list[str]] = {}
    for name in tracked:
        by_lower.setdefault(name.lower(), []).append(name)
    clashes = [names for names in by_lower.values() if len(names) > 1]
    assert not clashes, f"files that collide on a case-insensitive file system: {clashes}"
