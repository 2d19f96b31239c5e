"""Issue 11 defects 10 and 11: SIGINT/SIGTERM at any moment end `python -m mpm_ros.lift_node` cleanly — exit 0,
no traceback, no error — during the imports, during configure, and under load (twice in a row)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from node_support import Driver, skeleton_array, stamp_ns, tiny_checkpoint, walking_pixels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NodeProcess:
    """The node in a subprocess, its merged stdout/stderr collected line by line."""

    def __init__(self, *overrides: str) -> None:
        command = [sys.executable, "-m", "mpm_ros.lift_node", "--ros-args"]
        for override in overrides:
            command += ["-p", override]
        env = os.environ | {"RCUTILS_LOGGING_BUFFERED_STREAM": "0", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline and self.process.poll() is None, f"no {text!r}:\n{self.output}"
            time.sleep(0.02)

    def stop(self, *signums: int, gap_s: float = 0.05, timeout: float = 30.0) -> int:
        for signum in signums:
            self.process.send_signal(signum)
            time.sleep(gap_s)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.process.kill()
            self._reader.join(timeout=5)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def node_process() -> Iterator[Callable[..., NodeProcess]]:
    """Starts NodeProcess(es); any still running when the test ends (e.g. after a failed assert) is killed."""
    started: list[NodeProcess] = []

    def start(*overrides: str) -> NodeProcess:
        started.append(NodeProcess(*overrides))
        return started[-1]

    yield start
    for node in started:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait(timeout=10)


def assert_clean(node: NodeProcess, returncode: int) -> None:
    assert returncode == 0, node.output
    assert "Traceback" not in node.output and "[ERROR]" not in node.output, node.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_imports(node_process, signum) -> None:
    node = node_process("autostart:=false")
    time.sleep(0.3)  # importing torch takes longer than this
    assert node.process.poll() is None
    assert_clean(node, node.stop(signum))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_configure(node_process, tmp_path, signum) -> None:
    # onnxruntime: configure exports the model to ONNX first, which takes seconds
    node = node_process(f"checkpoint:={tiny_checkpoint(tmp_path)}", "backend:=onnxruntime", f"engine_dir:={tmp_path}")
    node.wait_for("configuring:")
    assert_clean(node, node.stop(signum))
    assert not any("configured:" in line for line in node.lines), "the signal landed after configure"


def test_double_sigint_under_load(node_process, tmp_path) -> None:
    node = node_process(f"checkpoint:={tiny_checkpoint(tmp_path)}", "backend:=torch", "device:=cpu",
                       "image_width:=1000", "image_height:=1000")
    context = rclpy.Context()
    rclpy.init(context=context)
    driver = Driver(context)
    try:
        driver.wait_connected(timeout=90.0)
        walkers = [walking_pixels(60, seed=k) for k in range(8)]
        start_ns, frame, deadline = time.monotonic_ns(), 0, time.monotonic() + 30.0

        def wall_stamp() -> int:  # stamps follow the wall clock: a stream running ahead of it is refused
            return stamp_ns(0) + time.monotonic_ns() - start_ns

        while len(driver.skeletons) < 30:  # 8 tracks every 5 ms: the worker is always busy
            assert time.monotonic() < deadline, f"{len(driver.skeletons)} outputs:\n{node.output}"
            driver.send(skeleton_array(wall_stamp(), {k: w[frame % 60] for k, w in enumerate(walkers)}))
            driver.spin_until(lambda: False, 0.005)
            frame += 1
        for _ in range(20):
            driver.send(skeleton_array(wall_stamp(), {k: w[0] for k, w in enumerate(walkers)}))
        returncode = node.stop(signal.SIGINT, signal.SIGINT, gap_s=0.02)
    finally:
        driver.close()
        rclpy.shutdown(context=context)
    assert_clean(node, returncode)
