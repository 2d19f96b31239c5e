"""/diagnostics under real overload, stamp outliers and a backend fallback (issue 20), node in-process."""
from __future__ import annotations

import time

import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from mpm_model.untrained import random_checkpoint  # noqa: E402
from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import (Driver, camera_info, lifter_overrides, skeleton_array, stamp_ns,  # noqa: E402
                          tiny_checkpoint, walking_pixels)


def _start(context, checkpoint, **values) -> tuple[LifterNode, Driver]:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, **values))
    driver = Driver(context, lifter)
    driver.wait_connected()
    driver.camera.publish(camera_info())
    return lifter, driver


def _stream(driver: Driver, seconds: float, tracks: int, outliers: bool = False) -> None:
    """Frames at 30 Hz in real time (stamps follow the clock); with `outliers` every other frame carries a stamp
    from a second publisher on another clock (100 s ahead)."""
    walker = walking_pixels(int(seconds * 30) + 1)
    started = time.monotonic()
    for k in range(int(seconds * 30)):
        stamp = stamp_ns(k) + (100 * 10**9 if outliers and k % 2 else 0)
        driver.send(skeleton_array(stamp, {t: walker[k] + 5 * t for t in range(tracks)}))
        driver.spin_until(lambda: False, max(0.0, started + (k + 1) / 30 - time.monotonic()))


def _status(driver: Driver) -> DiagnosticStatus:
    return driver.diagnostics[-1].status[0]


def test_overload_raises_warn(context, tmp_path) -> None:
    """A default-size model, 40 tracks, queue_size 1: inference cannot keep up, frames are dropped -> WARN."""
    checkpoint = random_checkpoint(tmp_path / "default_size.pt")
    lifter, driver = _start(context, checkpoint, max_tracks=64, queue_size=1)
    try:
        _stream(driver, 4.0, tracks=40)
        assert driver.spin_until(lambda: "frames lost" in _status(driver).message, 3.0), _status(driver).message
        status = _status(driver)
        assert status.level == DiagnosticStatus.WARN and "inference_queue_full" in status.message
        assert driver.diagnostic_values()["load_level"] == "WARN"
    finally:
        driver.close()
        lifter.destroy_node()


def test_stamp_outliers_raise_warn_and_a_clean_stream_is_ok(context, tmp_path) -> None:
    lifter, driver = _start(context, tiny_checkpoint(tmp_path), frame_rate=30.0)
    try:
        _stream(driver, 2.0, tracks=1)
        assert driver.spin_until(lambda: len(driver.diagnostics) > 0, 3.0)
        assert driver.diagnostic_values()["load_level"] == "OK", _status(driver).message
        _stream(driver, 3.0, tracks=1, outliers=True)
        assert driver.spin_until(lambda: "stamp_outlier" in _status(driver).message, 3.0), _status(driver).message
        assert _status(driver).level == DiagnosticStatus.WARN and "frames lost" in _status(driver).message
    finally:
        driver.close()
        lifter.destroy_node()


def test_a_backend_fallback_is_a_warning_in_the_log_and_diagnostics(context, tmp_path, monkeypatch) -> None:
    from mpm_model.deploy.backends import factory
    from mpm_model.deploy.export import OnnxExportError

    def broken_export(*args, **kwargs):
        raise OnnxExportError("exporter died")

    monkeypatch.setattr(factory, "cached_onnx", broken_export)
    lifter, driver = _start(context, tiny_checkpoint(tmp_path), backend="auto", engine_dir=str(tmp_path))
    try:
        _stream(driver, 1.0, tracks=1)
        assert driver.spin_until(lambda: "backend_fallback" in driver.diagnostic_values(), 3.0)
        reason = "fell back to torch: onnxruntime failed: OnnxExportError: exporter died"
        assert driver.diagnostic_values()["backend_fallback"] == reason
        assert _status(driver).level == DiagnosticStatus.WARN and reason in _status(driver).message
        assert any(line == f"inference backend {reason}" for line in driver.log_lines())
    finally:
        driver.close()
        lifter.destroy_node()
