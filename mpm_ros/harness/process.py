"""The lifter (or any node module) as a separate process: `python -m mpm_ros.lift_node --ros-args -p ...`, its
output in a log file, stopped with SIGINT (the clean lifecycle shutdown) and killed only when that hangs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 10.0  # SIGINT, then SIGKILL
LOG_TAIL_LINES = 30


class HarnessError(RuntimeError):
    """A harness run that could not complete; the message says why (with the node's log tail where it matters)."""


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when this process dies (e.g. killed by a test timeout): no orphans."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(command: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """`command` in the background from the repository root, stdout + stderr into `log`, unbuffered."""
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
                                     **(env or {})},
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def interrupt(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGINT and wait; SIGKILL when it has not ended after timeout_s. Returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"{' '.join(map(str, process.args[:3]))} (pid {process.pid}) did not stop on SIGINT; killing it",
                  file=sys.stderr)
            process.kill()
    return process.wait()


def ros_arguments(parameters: Mapping[str, str]) -> list[str]:
    """`--ros-args -p name:=value ...` (rcl needs '' for an empty string)."""
    pairs = (("-p", f"{name}:={value or repr('')}") for name, value in parameters.items())
    return ["--ros-args", *(arg for pair in pairs for arg in pair)]


class NodeProcess:
    """`python -m <module>` (default the lifter) with these parameter overrides, started at once; leaving a `with`
    block stops it."""

    def __init__(self, log: Path, parameters: Mapping[str, str], env: Mapping[str, str] | None = None,
                 module: str = "mpm_ros.lift_node") -> None:
        self.log, self.module = log, module
        self.process = start([sys.executable, "-m", module, *ros_arguments(parameters)], log, env)
        self._status: int | None = None

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGINT (clean lifecycle shutdown), SIGKILL after timeout_s; the exit status (the same on later calls)."""
        if self._status is None:
            self._status = interrupt(self.process, timeout_s)
        return self._status

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def failure(self, what: str) -> HarnessError:
        tail = "\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:]) or "(empty)"
        return HarnessError(f"{what}\nthe end of the {self.module} log ({self.log}):\n{tail}")


def log_problems(log: str) -> list[str]:
    """Tracebacks and errors in a node's log (a bad input must only ever produce a warning)."""
    return [f"node log: {line[:200]}" for line in log.splitlines() if "Traceback" in line or "[ERROR]" in line]
