"""Engine cache key, rebuild decision and default directory (pure logic: no TensorRT needed)."""
import dataclasses
import json

import pytest

from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.engine_cache import EngineIngredients, engine_paths, rebuild_decision, write_sidecar
from mpm_model.files import default_engine_dir, file_sha256

BASE = EngineIngredients(onnx_sha256="a" * 64, precision="fp16", min_batch=1, opt_batch=1, max_batch=16,
                         tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7")
CFG = ModelConfig()


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64}, {"precision": "fp32"}, {"min_batch": 1, "opt_batch": 2}, {"opt_batch": 4},
    {"max_batch": 32}, {"tensorrt_version": "10.3.1"}, {"gpu_name": "NVIDIA H100"}, {"compute_capability": "9.0"},
])
def test_every_ingredient_changes_the_key(change):
    assert dataclasses.replace(BASE, **change).key() != BASE.key()


def test_default_engine_dir_follows_ros_home_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_HOME", str(tmp_path))
    assert default_engine_dir() == tmp_path / "mpm_ros" / "engines"
    monkeypatch.delenv("ROS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_engine_dir() == tmp_path / "home" / ".ros" / "mpm_ros" / "engines"


def test_key_is_stable_and_names_the_file(tmp_path):
    assert BASE.key() == dataclasses.replace(BASE).key() and len(BASE.key()) == 64
    engine, sidecar = engine_paths(tmp_path / "trt_engines", "models/mpm_t27.onnx", BASE)
    assert engine == tmp_path / "trt_engines" / f"mpm_t27-{BASE.key()[:16]}.engine"
    assert sidecar.name == engine.name + ".json"


def test_invalid_ingredients():
    with pytest.raises(ValueError, match="min <= opt <= max"):
        dataclasses.replace(BASE, opt_batch=32)
    with pytest.raises(ValueError, match="precision"):
        dataclasses.replace(BASE, precision="int8")


@pytest.fixture
def cached(tmp_path):
    engine, sidecar = engine_paths(tmp_path, "m.onnx", BASE)
    engine.write_bytes(b"serialized engine bytes")
    written = write_sidecar(sidecar, engine, BASE, CFG, build_seconds=12.5)
    assert written["engine_sha256"] == file_sha256(engine) and written["build_seconds"] == 12.5
    return engine, sidecar


def test_matching_engine_is_reused(cached):
    rebuild, why = rebuild_decision(*cached, BASE, CFG)
    assert not rebuild and "matches" in why


def test_force_and_missing_files_rebuild(cached):
    engine, sidecar = cached
    assert rebuild_decision(engine, sidecar, BASE, CFG, force_rebuild=True) == (True, "force_rebuild requested")
    sidecar.unlink()
    assert rebuild_decision(engine, sidecar, BASE, CFG)[0]
    engine.unlink()
    rebuild, why = rebuild_decision(engine, sidecar, BASE, CFG)
    assert rebuild and "no cached engine" in why


@pytest.mark.parametrize("tamper,reason", [
    (lambda s: s.update(key="f" * 64), "sidecar key"),
    (lambda s: s["ingredients"].update(gpu_name="RTX 4090"), "ingredients changed"),
    (lambda s: s.update(config=ModelConfig(causal=True).to_dict()), "ModelConfig"),
    (lambda s: s.update(engine_sha256="0" * 64), "does not match the sha256"),
    (lambda s: s.update(format=99), "unknown format"),
])
def test_foreign_or_stale_sidecar_forces_rebuild(cached, tamper, reason):
    engine, sidecar = cached
    data = json.loads(sidecar.read_text())
    tamper(data)
    sidecar.write_text(json.dumps(data))
    rebuild, why = rebuild_decision(engine, sidecar, BASE, CFG)
    assert rebuild and reason in why


def test_unreadable_sidecar_and_swapped_engine_rebuild(cached):
    engine, sidecar = cached
    engine.write_bytes(b"an engine built elsewhere")
    assert rebuild_decision(engine, sidecar, BASE, CFG)[0]
    sidecar.write_text("{not json")
    rebuild, why = rebuild_decision(engine, sidecar, BASE, CFG)
    assert rebuild and "unreadable" in why
