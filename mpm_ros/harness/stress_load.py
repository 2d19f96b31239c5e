"""Stress modes of issue 20 (run through `python -m mpm_ros.harness.stress together|overload`).

together: several lifter processes start at the same moment on one empty engine cache (a robot with several
cameras); each must come up on ONNX Runtime (none falls back to torch) and the cache must hold one valid export.
overload: one node given more tracks than it can lift (default-size model, queue_size 1) must say so: /diagnostics
at WARN with the frames lost, not OK.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from mpm_model.untrained import random_checkpoint
from mpm_ros.harness.process import NodeProcess, log_problems
from mpm_ros.harness.stress_inputs import HEIGHT, WIDTH, camera_info, keypoints_msg, walker_frame, walking_pixels

CONFIGURED = re.compile(r"configured: backend (\S+) on (\S+)")


def run_together(nodes: int, checkpoint: str, workdir: Path, timeout_s: float = 300.0) -> list[str]:
    """`nodes` lifter processes started together on the empty cache workdir/engines; prints each one's backend."""
    from mpm_model.deploy.export import onnx_cache_path, read_onnx_sidecar

    engines = workdir / "engines"
    parameters = {"checkpoint": checkpoint, "backend": "auto", "device": "cpu", "engine_dir": str(engines)}
    procs = [NodeProcess(workdir / f"node{k}.log", parameters) for k in range(nodes)]
    failures: list[str] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(p.alive and not CONFIGURED.search(p.log_text()) for p in procs):
            time.sleep(0.5)
        for k, proc in enumerate(procs):
            log = proc.log_text()
            match = CONFIGURED.search(log)
            backend = match.group(1) if match else "(not configured)"
            print(f"together: node {k} (pid {proc.pid}): backend {backend}")
            if backend != "onnxruntime":
                failures.append(f"node {k} came up on {backend}, not onnxruntime (log {proc.log})")
            if "fell back" in log:
                failures.append(f"node {k} logged a backend fallback (log {proc.log})")
    finally:
        for proc in procs:
            if proc.stop(timeout_s=30.0) != 0:
                failures.append(f"node pid {proc.pid}: SIGINT did not end it with status 0")
            failures += log_problems(proc.log_text())
    onnx = onnx_cache_path(checkpoint, engines, 64)
    try:
        read_onnx_sidecar(onnx)
        print(f"together: cache {sorted(p.name for p in engines.iterdir())}")
    except (OSError, ValueError) as exc:
        failures.append(f"the shared export is not valid: {exc}")
    return failures


def run_overload(seconds: float, tracks: int, rate: float, workdir: Path) -> list[str]:
    """`tracks` tracks at `rate` Hz into a default-size untrained model with queue_size 1 for `seconds`; the last
    /diagnostics status must be WARN (or worse) and name the frames lost."""
    from diagnostic_msgs.msg import DiagnosticArray
    from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray
    from sensor_msgs.msg import CameraInfo

    from mpm_ros.harness.driver import Driver

    checkpoint = random_checkpoint(workdir / "default_size.pt")
    node = NodeProcess(workdir / "node.log", {"checkpoint": str(checkpoint), "backend": "auto", "queue_size": "1",
                                              "max_tracks": "64", "engine_dir": str(workdir / "engines"),
                                              "image_width": str(WIDTH), "image_height": str(HEIGHT)})
    driver, diagnostics, outputs = Driver("mpm_overload_driver"), [], []
    driver.publisher(Skeleton2DArray, "keypoints")
    driver.publisher(CameraInfo, "camera_info")
    driver.record(Skeleton3DArray, "skeletons3d", outputs.append)
    driver.record(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    pool = [walking_pixels(90, seed=k) for k in range(tracks)]
    frame = 0
    try:
        topics = {"inputs": ["keypoints"], "outputs": ["skeletons3d", "/diagnostics"]}
        if not driver.spin_until(lambda: not node.alive or driver.matched(**topics), 300.0) or not node.alive:
            return [f"the node did not come up:\n{node.log_text()}"]
        driver.publish("camera_info", camera_info())
        start = next_frame = time.time()
        while time.time() < start + seconds and node.alive:
            if time.time() >= next_frame:
                frames = {t: walker_frame(pool[t], frame) for t in range(tracks)}
                driver.publish("keypoints", keypoints_msg(time.time_ns(), frames))
                frame, next_frame = frame + 1, next_frame + 1.0 / rate
            driver.executor.spin_once(timeout_sec=max(0.0, next_frame - time.time()))
        driver.spin_until(lambda: False, 1.5)
    finally:
        driver.close()
        returncode = node.stop(timeout_s=30.0)
    if not diagnostics:
        return ["no /diagnostics received"]
    status = diagnostics[-1].status[0]
    level = status.level if isinstance(status.level, int) else status.level[0]  # a `byte` field: bytes in rclpy
    values = {kv.key: kv.value for kv in status.values}
    print(f"overload: {tracks} tracks at {rate:g} Hz for {seconds:g} s: {frame} frames sent, "
          f"{len(outputs)} outputs; /diagnostics level {level} ({values.get('load_level')}): "
          f"{status.message}")
    failures = [] if level >= 1 and "frames lost" in status.message else [
        f"/diagnostics level {level} under overload: {status.message!r}"]
    if returncode != 0:
        failures.append(f"SIGINT: exit status {returncode}")
    return failures + log_problems(node.log_text())
