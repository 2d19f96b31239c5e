"""Entry points keep their old module paths: `python -m mpm_model.finetune` still runs
mpm_model.training.finetune after the modules were grouped into training/, deploy/ and (in mpm_ros) bags/.

Each package registers its own table in its __init__; an old name resolves to the very same module object.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import CodeType, ModuleType


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:  # the target module ran already
        pass

    def get_code(self, fullname: str) -> CodeType | None:  # what `python -m <old name>` runs
        return importlib.util.find_spec(self.target).loader.get_code(self.target)

    def is_package(self, fullname: str) -> bool:
        return False


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        new = self.aliases.get(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _AliasLoader(new))


_FINDER = next((f for f in sys.meta_path if type(f).__name__ == "_AliasFinder"), None) or _AliasFinder()
if _FINDER not in sys.meta_path:
    sys.meta_path.append(_FINDER)


def register(aliases: dict[str, str]) -> None:
    """old module name -> new module name."""
    _FINDER.aliases.update(aliases)


register({f"mpm_model.{name}": f"mpm_model.{group}.{name}" for group, names in {
    "training": ("pretrain", "finetune", "evaluate"), "deploy": ("export", "build_engine", "bench", "model_stats"),
    "data": ("make_synthetic",)}.items() for name in names})
