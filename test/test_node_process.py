"""Two processes: `python -m mpm_ros.lift_node --ros-args --params-file config/lift.yaml` serves a test node,
with the ONNX Runtime backend (exported from a tiny random-init checkpoint)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from node_support import Driver, camera_info, skeleton_array, stamp_ns, tiny_checkpoint, walking_pixels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_node_in_subprocess_serves_over_dds(tmp_path) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    command = [sys.executable, "-m", "mpm_ros.lift_node", "--ros-args", "--params-file", str(ROOT / "config/lift.yaml"),
               "-p", f"checkpoint:={checkpoint}", "-p", "backend:=onnxruntime", "-p", f"engine_dir:={tmp_path}"]
    log = open(tmp_path / "node.log", "w+")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    context = rclpy.Context()
    rclpy.init(context=context)
    driver = Driver(context)
    try:
        driver.wait_connected(timeout=90.0)
        driver.camera.publish(camera_info())
        walker = walking_pixels(3)
        for frame in range(3):
            driver.send(skeleton_array(stamp_ns(frame), {5: walker[frame]}), expect_outputs=frame + 1, timeout=20.0)
        assert [m.header.stamp.nanosec for m in driver.skeletons] == [stamp_ns(f) % 10**9 for f in range(3)]
        assert driver.spin_until(lambda: driver.diagnostics, 5.0)
        values = {kv.key: kv.value for kv in driver.diagnostics[-1].status[0].values}
        assert values["backend"] == "onnxruntime"
    finally:
        driver.close()
        rclpy.shutdown(context=context)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.seek(0)
        print(log.read())
    assert process.returncode == 0, "Ctrl-C ends the node cleanly"


def test_autostart_failure_exits_nonzero(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "mpm_ros.lift_node", "--ros-args", "-p", "queue_size:=0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 1
    assert "queue_size" in result.stderr + result.stdout


def test_help_prints_usage_without_starting_ros() -> None:
    result = subprocess.run([sys.executable, "-m", "mpm_ros.lift_node", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m mpm_ros.lift_node")
