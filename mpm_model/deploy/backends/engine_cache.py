"""TensorRT engine cache: an engine is reused only if every ingredient that shaped it still matches.

Engines are specific to the ONNX file, precision, optimisation profile, TensorRT version and GPU; loading one
built elsewhere either fails or silently misbehaves, so each engine carries a JSON sidecar and is rebuilt on any
mismatch (never loaded blindly). Files are written and locked through `mpm_model.files`, whose
`default_engine_dir()` is the one cache directory the node, `create_backend` and the CLIs share.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.names import precision_problem
from mpm_model.files import atomic_write_bytes, atomic_write_text, file_sha256, fill_once

LOG = logging.getLogger(__name__)
SIDECAR_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class EngineIngredients:
    """Everything an engine depends on; the cache key is a hash of exactly these fields."""

    onnx_sha256: str
    precision: str
    min_batch: int
    opt_batch: int
    max_batch: int
    tensorrt_version: str
    gpu_name: str
    compute_capability: str

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ValueError(f"profile must satisfy 1 <= min <= opt <= max, got "
                             f"{self.min_batch}/{self.opt_batch}/{self.max_batch}")
        problem = precision_problem("tensorrt", self.precision)
        if problem:
            raise ValueError(problem)

    def key(self) -> str:
        """sha256 hex over a canonical JSON of the ingredients."""
        canonical = json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def engine_paths(engine_dir: str | Path, onnx_path: str | Path, ingredients: EngineIngredients) -> tuple[Path, Path]:
    """(engine file, sidecar) as `<engine_dir>/<onnx stem>-<key16>.engine` and `.engine.json`."""
    engine = Path(engine_dir) / f"{Path(onnx_path).stem}-{ingredients.key()[:16]}.engine"
    return engine, engine.with_name(engine.name + ".json")


def rebuild_decision(engine_path: Path, sidecar_path: Path, ingredients: EngineIngredients, config: ModelConfig,
                     force_rebuild: bool = False) -> tuple[bool, str]:
    """(must rebuild?, why). Any doubt about a cached engine means rebuild."""
    if force_rebuild:
        return True, "force_rebuild requested"
    if not engine_path.is_file():
        return True, f"no cached engine at {engine_path}"
    if not sidecar_path.is_file():
        return True, f"engine {engine_path.name} has no sidecar {sidecar_path.name}; origin unknown"
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return True, f"sidecar {sidecar_path.name} unreadable: {exc}"
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        return True, f"sidecar {sidecar_path.name} has an unknown format"
    if sidecar.get("key") != ingredients.key():
        return True, f"sidecar key {str(sidecar.get('key'))[:16]} != expected {ingredients.key()[:16]}"
    stored = sidecar.get("ingredients", {})
    changed = {k: (stored.get(k), v) for k, v in dataclasses.asdict(ingredients).items() if stored.get(k) != v}
    if changed:
        return True, f"engine ingredients changed: {changed}"
    if sidecar.get("config") != config.to_dict():
        return True, "ModelConfig in the sidecar differs from the ONNX model's"
    if sidecar.get("engine_sha256") != file_sha256(engine_path):
        return True, f"engine file {engine_path.name} does not match the sha256 recorded in its sidecar"
    return False, f"cached engine {engine_path.name} matches (key {ingredients.key()[:16]})"


def write_sidecar(sidecar_path: Path, engine_path: Path, ingredients: EngineIngredients, config: ModelConfig,
                  build_seconds: float) -> dict[str, Any]:
    """Record what the engine was built from; written after the engine so a crash mid-build leaves no sidecar."""
    sidecar = {
        "format": SIDECAR_FORMAT,
        "key": ingredients.key(),
        "ingredients": dataclasses.asdict(ingredients),
        "config": config.to_dict(),
        "engine_file": engine_path.name,
        "engine_sha256": file_sha256(engine_path),
        "build_seconds": round(build_seconds, 3),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(sidecar_path, json.dumps(sidecar, indent=2))
    return sidecar


def cached_engine(engine_dir: str | Path, onnx_path: str | Path, ingredients: EngineIngredients,
                  config: ModelConfig, build: Callable[[], bytes], force_rebuild: bool = False) -> tuple[Path, bool]:
    """(engine path, built by this call?): reuse the cached engine when its sidecar matches, else `build()` the
    serialised engine and store it, engine then sidecar, each replaced atomically. Processes that need the same
    engine at once build it once: the others wait on its lock and reuse it (files.fill_once)."""
    engine_path, sidecar_path = engine_paths(engine_dir, onnx_path, ingredients)

    def problem() -> str | None:
        rebuild, why = rebuild_decision(engine_path, sidecar_path, ingredients, config, force_rebuild)
        LOG.info("TensorRT engine %s: %s", "rebuild" if rebuild else "reuse", why)
        return why if rebuild else None

    def store(why: str) -> None:
        started = time.perf_counter()
        atomic_write_bytes(engine_path, build())
        write_sidecar(sidecar_path, engine_path, ingredients, config, time.perf_counter() - started)
        LOG.info("wrote %s (%.1f s)", engine_path, time.perf_counter() - started)

    return engine_path, fill_once(engine_path, problem, store)
