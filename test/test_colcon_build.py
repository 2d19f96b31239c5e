"""The repo builds with a real `colcon build` (tools/colcon_check.sh), as on a ROS 2 install.

Opt-in: the script pip-installs colcon from PyPI on its first run, which CI must not depend on.
Run with `MPM_COLCON_CHECK=1 .venv/bin/python -m pytest -q test/test_colcon_build.py` (~40 s).
"""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "colcon_check.sh"

pytestmark = pytest.mark.skipif(
    os.environ.get("MPM_COLCON_CHECK") != "1",
    reason="opt-in: set MPM_COLCON_CHECK=1 (downloads colcon from PyPI into a separate venv)",
)


def run_check(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLCON_WS=str(workspace))
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_colcon_build_installs_both_packages(tmp_path: Path) -> None:
    result = run_check(tmp_path / "ws")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "colcon_check: OK" in result.stdout
    install = tmp_path / "ws" / "install"
    assert (install / "mpm_msgs" / "share" / "mpm_msgs" / "package.xml").is_file()
    assert (install / "mpm_ros" / "lib" / "mpm_ros" / "lift_node").is_file()


@pytest.mark.xfail(strict=True, reason="mpm_msgs/ is nested inside the mpm_ros package (repo root): "
                   "colcon and rosdep do not descend into a package, so the README's plain "
                   "`colcon build` in ~/ws misses mpm_msgs")
def test_plain_colcon_discovers_both_packages(tmp_path: Path) -> None:
    result = run_check(tmp_path / "ws", "--strict-discovery")
    assert result.returncode == 0, result.stderr[-3000:]
