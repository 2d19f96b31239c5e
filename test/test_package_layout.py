"""The layout rules of the house: no import cycles between the project's modules, no arrow that climbs (a lower
layer importing a higher one), no source file over 400 lines, and the modules a launch file or the window buffer
load do not load torch (all of streaming/ imports with torch blocked)."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mpm_model", "mpm_ros")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports (module level or inside functions: either way a dependency)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) - {module_name(p)} for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    """A package's __init__ importing its own submodules (re-exports) is its structure, not a dependency: those
    edges are left out; any other cycle fails, naming its modules."""
    graph = {name: {t for t in targets if not t.startswith(name + ".")} for name, targets in import_graph().items()}
    assert cycles(graph) == []


def test_no_source_file_over_400_lines() -> None:
    files = [p for folder in (*PACKAGES, "tools", "test") for p in (ROOT / folder).rglob("*.py")]
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_launch_parameters_and_window_buffer_import_without_torch() -> None:
    """The module the launch files read their defaults from, the window buffer and the streaming facade are
    torch-free: a launch file, or a node's start-up, must not pay for torch."""
    code = ("import sys; import mpm_model.streaming.window_buffer, mpm_model.streaming, mpm_ros.params; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False", "importing them loaded torch"


# (layer, what it must not import): the lower side of arrows that once climbed. The I/O layer sits under everything;
# export sits under the backends (backends.factory imports it); training sits above shipping and evaluation.
NO_CLIMB = (
    ("mpm_model.files", "mpm_model."),
    ("mpm_model.deploy.export", "mpm_model.deploy.backends"),
    ("mpm_model.", "mpm_model.training"),
)


def climbing_arrows(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) for every import that goes from a layer to one it must not import; a package's own
    modules (training importing training) are inside the layer, not above it."""
    found = []
    for module, targets in sorted(graph.items()):
        for layer, above in NO_CLIMB:
            if module == layer or (layer.endswith(".") and module.startswith(layer) and not module.startswith(above)):
                found += [(module, t) for t in sorted(targets) if t.startswith(above) and t != module]
    return found


def test_the_climb_finder_finds_a_climb() -> None:
    graph = {"mpm_model.shipping": {"mpm_model.training.evaluate"}, "mpm_model.training.loop": {"mpm_model.training.x"},
             "mpm_model.files": set(), "mpm_model.deploy.export": {"mpm_model.deploy.backends.engine_cache"}}
    assert climbing_arrows(graph) == [("mpm_model.deploy.export", "mpm_model.deploy.backends.engine_cache"),
                                      ("mpm_model.shipping", "mpm_model.training.evaluate")]


def test_no_arrow_climbs() -> None:
    assert climbing_arrows(import_graph()) == []


def test_every_streaming_module_imports_with_torch_blocked() -> None:
    """All of mpm_model.streaming ("without ROS or torch"), each module in turn, in a process where importing torch
    raises: a module that pulls torch in, directly or through another, fails here by name."""
    modules = sorted(module_name(p) for p in (ROOT / "mpm_model" / "streaming").rglob("*.py"))
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, sys

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
                return None

        sys.meta_path.insert(0, NoTorch())
        failed = []
        for module in {modules!r}:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                failed.append(f"{{module}}: {{exc}}")
        print("\\n".join(failed) or "ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(modules) > 5 and done.stdout.strip() == "ok", done.stdout
