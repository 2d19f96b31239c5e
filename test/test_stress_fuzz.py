"""The short fuzz run of `python -m mpm_ros.harness.stress fuzz` (issue 11): part of every `make test`."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

ROOT = Path(__file__).resolve().parents[1]


def test_fuzz_run_passes() -> None:
    result = subprocess.run([sys.executable, "-m", "mpm_ros.harness.stress", "fuzz", "--seed", "0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=180, env=os.environ.copy())
    print(result.stdout[-5000:], result.stderr[-3000:])
    assert result.returncode == 0 and "fuzz: passed" in result.stdout
