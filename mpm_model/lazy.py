"""Lazy package exports: a package names what it exports and where it lives; the module is imported on first use,
so importing the package (e.g. from a launch file or a signal-guarded entry point) loads no torch."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], list[str]]:
    """(module __getattr__, __all__) for `exports` = {module path: names it provides}."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return __getattr__, sorted(home)
