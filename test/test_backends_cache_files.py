"""The shared ONNX / TensorRT cache under several processes at once: atomic writes, one filler per entry, locks of
dead or hung holders passed over, and create_backend from processes that start together on an empty cache."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.engine_cache import EngineIngredients, cached_engine, engine_paths, rebuild_decision
from mpm_model.files import atomic_path, cache_lock, fill_once, lock_path, remove_dead_temps

ROOT = Path(__file__).resolve().parents[1]
INGREDIENTS = EngineIngredients(onnx_sha256="ab" * 32, precision="fp16", min_batch=1, opt_batch=1, max_batch=8,
                                tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7")


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[str]:
    outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out
    return outputs


def _go_when_all_ready(tmp_path: Path, count: int, timeout: float = 60.0) -> None:
    """Processes write ready.<i> once their imports are done, then wait for `go`: they start their work together."""
    deadline = time.monotonic() + timeout
    while len(list(tmp_path.glob("ready.*"))) < count:
        assert time.monotonic() < deadline, "workers did not get ready"
        time.sleep(0.05)
    (tmp_path / "go").touch()


WAIT_FOR_GO = """
import sys, time
from pathlib import Path
sync = Path(sys.argv[1])
(sync / f"ready.{sys.argv[2]}").touch()
while not (sync / "go").exists():
    time.sleep(0.01)
"""


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "cache" / "model.onnx"
    with atomic_path(target) as temp:
        assert temp.parent == target.parent and temp != target
        temp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("exporter died")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]  # no temp left behind


def test_temps_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "m.onnx"
    orphans = [tmp_path / f".m.onnx.{dead.pid}-0123abcd.tmp", tmp_path / f".m.onnx.json.{dead.pid}-89abcdef.tmp"]
    mine = tmp_path / f".m.onnx.{os.getpid()}-00ff00ff.tmp"
    for path in (*orphans, mine):
        path.write_bytes(b"partial")
    assert remove_dead_temps(target) == 2
    assert not any(p.exists() for p in orphans) and mine.exists()


HOLDER = """
import sys, time
from mpm_model.files import cache_lock
with cache_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_dead_holder_does_not_block(tmp_path):
    target = tmp_path / "m.engine"
    holder = _python(HOLDER, str(target))
    assert holder.stdout.readline().strip() == "held"
    assert lock_path(target).read_text().strip() == str(holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with cache_lock(target, poll_s=0.05) as held:
        assert held and time.monotonic() - started < 2.0
        assert lock_path(target).read_text().strip() == str(os.getpid())


def test_a_hung_holder_is_passed_over_after_stale_s(tmp_path, caplog):
    import threading

    target = tmp_path / "m.onnx"
    holder = _python(HOLDER, str(target))
    assert holder.stdout.readline().strip() == "held"
    patient: list[bool] = []
    waiter = threading.Thread(target=lambda: patient.append(_take(target, stale_s=60.0)))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # a live holder younger than stale_s is waited for
    started = time.monotonic()
    with caplog.at_level("WARNING"):
        assert _take(target, stale_s=0.2) is False
    assert time.monotonic() - started < 5.0
    assert f"held by pid {holder.pid}" in caplog.text and "going ahead without it" in caplog.text
    holder.kill()
    holder.wait()
    waiter.join(timeout=10)
    assert patient == [True]  # the holder died: its lock went with it


def _take(target: Path, stale_s: float) -> bool:
    with cache_lock(target, stale_s=stale_s, poll_s=0.05) as held:
        return held


FILLER = WAIT_FOR_GO + """
import time
from mpm_model.files import atomic_write_text, fill_once
target = sync / "entry.txt"
def problem():
    return None if target.is_file() and target.read_text() == "complete" else "missing"
def fill(why):
    with open(sync / "fills.log", "a") as log:
        log.write(f"{sys.argv[2]}\\n")
    time.sleep(0.5)
    atomic_write_text(target, "complete")
print("filled" if fill_once(target, problem, fill) else "reused", target.read_text())
"""


def test_fill_once_fills_once_for_processes_that_start_together(tmp_path):
    procs = [_python(FILLER, str(tmp_path), str(i)) for i in range(5)]
    _go_when_all_ready(tmp_path, 5)
    outputs = _finish(procs, timeout=60)
    assert len((tmp_path / "fills.log").read_text().split()) == 1
    assert sorted(out.split()[0] for out in outputs) == ["filled"] + ["reused"] * 4
    assert all(out.split()[1] == "complete" for out in outputs)


ENGINE_BUILDER = WAIT_FOR_GO + """
import json, time
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.engine_cache import EngineIngredients, cached_engine
ingredients = EngineIngredients(**json.loads(sys.argv[3]))
def build():
    with open(sync / "builds.log", "a") as log:
        log.write("built\\n")
    time.sleep(0.5)
    return b"serialized engine " * 1000
path, built = cached_engine(sync / "engines", "m.onnx", ingredients, ModelConfig(), build)
print(path.name, built)
"""


def test_tensorrt_engine_cache_builds_once_and_stays_valid(tmp_path):
    """The TensorRT cache logic with a stand-in build (TensorRT is not needed to test the locking)."""
    import dataclasses

    spec = json.dumps(dataclasses.asdict(INGREDIENTS))
    procs = [_python(ENGINE_BUILDER, str(tmp_path), str(i), spec) for i in range(4)]
    _go_when_all_ready(tmp_path, 4)
    outputs = _finish(procs, timeout=60)
    engine, sidecar = engine_paths(tmp_path / "engines", "m.onnx", INGREDIENTS)
    assert (tmp_path / "builds.log").read_text().split() == ["built"]
    assert sorted(out.split()[1] for out in outputs) == ["False"] * 3 + ["True"]
    assert rebuild_decision(engine, sidecar, INGREDIENTS, ModelConfig()) == (
        False, f"cached engine {engine.name} matches (key {INGREDIENTS.key()[:16]})")
    assert not list((tmp_path / "engines").glob("*.tmp"))
    path, built = cached_engine(tmp_path / "engines", "m.onnx", INGREDIENTS, ModelConfig(), lambda: b"x",
                                force_rebuild=True)
    assert built and path.read_bytes() == b"x"


def test_fill_once_skips_the_lock_when_the_entry_is_usable(tmp_path):
    assert not fill_once(tmp_path / "x", lambda: None, lambda why: pytest.fail("filled a usable entry"))
    assert not lock_path(tmp_path / "x").exists()


CREATOR = WAIT_FOR_GO + """
import logging
logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
from mpm_model.deploy.backends import create_backend
backend = create_backend("auto", checkpoint="mpm_t27_causal", engine_dir=sys.argv[3], device="cpu", threads=1)
print("RESULT", backend.name, backend.fallback_reason)
"""


def test_exporters_that_start_together_all_get_onnxruntime(tmp_path):
    """Issue 20: nodes starting together on an empty cache corrupted each other's export and fell back to torch."""
    from mpm_model.deploy.export import onnx_cache_path, read_onnx_sidecar

    engines, count = tmp_path / "engines", 5
    procs = [_python(CREATOR, str(tmp_path), str(i), str(engines)) for i in range(count)]
    _go_when_all_ready(tmp_path, count, timeout=120)
    outputs = _finish(procs, timeout=300)
    results = [next(line for line in out.splitlines() if line.startswith("RESULT")) for out in outputs]
    assert results == ["RESULT onnxruntime None"] * count, "\n".join(outputs)
    exports = sum(out.count("mpm_model.deploy.export INFO exporting") for out in outputs)
    assert exports == 1, "\n".join(outputs)
    onnx = onnx_cache_path("mpm_t27_causal", engines, 64)
    assert read_onnx_sidecar(onnx)[0].window == 27  # sha256 of the file matches its sidecar
    assert sorted(p.name for p in engines.iterdir()) == sorted([onnx.name, onnx.name + ".json", onnx.name + ".lock"])
