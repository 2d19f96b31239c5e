"""One runner for "start the lifter, replay a bag through it, stop it, score it": `make demo`, `make bench-node`
(the commands of mpm_ros.harness.pipeline) and test/test_pipeline_e2e.py all call `run_pipeline`.

The lifter runs as a subprocess (mpm_ros.harness.process.NodeProcess), replay + record as another
(`python -m mpm_ros.bags.replay`). This process waits for the lifter on the ROS graph with one rclpy context,
shut down before the replay starts (with LOCALHOST discovery Fast DDS reaches only a limited range of participant
ids on 127.0.0.1, so no context is left alive to crowd a newcomer out), and scores the recording in-process with
mpm_ros.bags.report. The node gets only the weights, the backend and the export cache directory.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mpm_ros.harness.process import ROOT, HarnessError, NodeProcess, interrupt, start

DEMO_CLIP = ROOT / "mpm_model/assets/demo_clip.npz"
ENGINE_DIR = ROOT / "build/engines"  # ONNX exports cached across runs (out/ is wiped by every demo)
LIFTER_NAME = "mpm_lifter"
DISCOVERY_TIMEOUT_S = 120.0  # until the lifter's node is on the ROS graph (imports, DDS discovery)
# ... and then until it is active: configure includes, on a first run, the ONNX export (> 120 s on a loaded 2-core
# machine; a node killed mid-export leaves no cache, so every later run would fail the same way)
CONFIGURE_TIMEOUT_S = 600.0
REPLAY_WAIT_S = 60.0  # replay's own wait for the /keypoints subscriber (the lifter is already discovered)


def say(prefix: str, text: str, *, err: bool = False) -> None:
    for line in text.splitlines() or [""]:
        print(f"{prefix}: {line}", file=sys.stderr if err else sys.stdout, flush=True)


@dataclass(frozen=True)
class NodeOptions:
    """The lifter subprocess. Window, causal and lookahead come from the checkpoint: they are not passed."""

    checkpoint: str = ""  # shipped name or .pt path; "" = the node's seeded random-init model
    backend: str = "onnxruntime"
    engine_dir: Path = ENGINE_DIR
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment of the node process
    overrides: Mapping[str, str] = field(default_factory=dict)  # more node parameters, e.g. {"use_depth": "true"}

    def parameters(self) -> dict[str, str]:
        return {"checkpoint": self.checkpoint, "backend": self.backend,
                "engine_dir": str(Path(self.engine_dir).resolve()), **self.overrides}


@dataclass(frozen=True)
class RunOptions:
    """One pass: input bag → lifter ← replay + record → report. Everything is written under `out_dir`."""

    input_bag: Path
    out_dir: Path
    node: NodeOptions = field(default_factory=NodeOptions)
    plots: bool = True
    verbose: bool = True  # print the replay's output and the report table
    prefix: str = "pipeline"
    discovery_timeout_s: float = DISCOVERY_TIMEOUT_S
    drain_s: float = 3.0
    replay_timeout_s: float = 300.0  # whole replay, bag length included


@dataclass
class RunResult:
    report: dict[str, Any]
    report_text: str
    output_bag: Path
    node_returncode: int
    node_log: str
    replay_log: str
    discovered_after_s: float


def fresh_dir(path: Path) -> None:
    """Remove `path` (a previous run's output) and create it empty; refuses the repo, its parents and $HOME."""
    resolved = path.resolve()
    if resolved in (ROOT, *ROOT.parents, Path.home().resolve()):
        raise ValueError(f"refusing to wipe {path} as an output directory; pass a dedicated --out")
    shutil.rmtree(resolved, ignore_errors=True)
    resolved.mkdir(parents=True)


def isolate_ros(out_dir: Path) -> dict[str, str]:
    """For a CLI run (sets os.environ, so call it before any rclpy.init here): a random ROS_DOMAIN_ID in 101-200
    unless one is set, localhost discovery, ROS_HOME under out_dir. The lifter and replay inherit it."""
    ros_home = (out_dir / "ros_home").resolve()
    ros_home.mkdir(parents=True, exist_ok=True)
    values = {"ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID") or str(random.randint(101, 200)),
              "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1", "PYTHONUNBUFFERED": "1",
              "ROS_HOME": str(ros_home), "ROS_LOG_DIR": str(ros_home / "log")}
    os.environ.update(values)
    return values


def best_checkpoint(requested: str | None = None) -> str:
    """`requested` ("" = random init), else the node's default checkpoint when it is shipped, else the first shipped
    lifter, else "" (random init)."""
    if requested is not None:
        return requested
    from mpm_model.checkpoint import list_pretrained
    from mpm_ros.params import SPECS

    lifters = list_pretrained("lifter")
    default = SPECS["checkpoint"].default
    return default if default in lifters else (lifters or [""])[0]


def ensure_clip(clip: Path) -> None:
    """Make the bundled demo clip when it is missing (from the test slice, else labelled synthetic motion)."""
    if not clip.is_file():
        subprocess.run([sys.executable, str(ROOT / "tools/make_demo_clip.py"), "--out", str(clip)], cwd=ROOT,
                       check=True)


def wait_discovered(lifter: NodeProcess, timeout_s: float = DISCOVERY_TIMEOUT_S) -> float:
    """Seconds until the lifter is on the graph with its /keypoints subscription and /skeletons3d publisher (i.e.
    active): at most `timeout_s` until its node is seen, CONFIGURE_TIMEOUT_S in all while it is alive and seen (still
    configuring; a failed configure ends the process). Uses a private rclpy context, always shut down before
    returning."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from mpm_ros.bags import bag_io

    started = time.monotonic()
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    probe, name_seen = None, False
    try:
        probe = rclpy.create_node("mpm_pipeline_probe", context=context, enable_rosout=False,
                                  start_parameter_services=False)
        while True:
            name_seen = name_seen or LIFTER_NAME in probe.get_node_names()
            if probe.count_subscribers(bag_io.KEYPOINTS_TOPIC) and probe.count_publishers(bag_io.SKELETONS3D_TOPIC):
                return time.monotonic() - started
            if not lifter.alive:
                raise lifter.failure(f"lift_node exited (status {lifter.stop()}) before it was discovered")
            if time.monotonic() - started > (max(timeout_s, CONFIGURE_TIMEOUT_S) if name_seen else timeout_s):
                seen = ("its node was seen on the graph but it never subscribed to /keypoints (still starting "
                        "up, or configure/activate failed?)" if name_seen else
                        "it never appeared on the ROS graph, a DDS discovery failure (another ROS_DOMAIN_ID or "
                        "discovery range in its environment? With LOCALHOST discovery Fast DDS probes only a "
                        "limited range of participant ids on 127.0.0.1: processes holding many live rclpy "
                        "contexts push a newcomer out of that range)")
                env = {k: os.environ.get(k, "") for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
                raise lifter.failure(f"lift_node (pid {lifter.pid}) was NOT DISCOVERED within "
                                     f"{time.monotonic() - started:.0f} s "
                                     f"({env}): {seen}")
            time.sleep(0.2)
    finally:
        if probe is not None:
            probe.destroy_node()
        context.try_shutdown()
        context.destroy()


def replay_through(lifter: NodeProcess, input_bag: Path, output_bag: Path, log: Path, drain_s: float = 3.0,
                   timeout_s: float = 300.0) -> str:
    """Replay + record in a subprocess while watching the lifter; its output (ending in "replay done: ...")."""
    command = [sys.executable, "-m", "mpm_ros.bags.replay", "--bag", str(input_bag), "--record", str(output_bag),
               "--wait-timeout", str(REPLAY_WAIT_S), "--drain", str(drain_s)]
    replay = start(command, log)
    problem = None
    try:
        deadline = time.monotonic() + timeout_s
        while replay.poll() is None and problem is None:
            if not lifter.alive:
                problem = "lift_node exited during the replay"
            elif time.monotonic() > deadline:
                problem = f"replay did not finish within {timeout_s:.0f} s"
            else:
                time.sleep(0.2)
    finally:
        status = interrupt(replay)
    text = log.read_text(errors="replace")
    if problem is not None:
        raise lifter.failure(f"{problem}; replay output:\n{text}")
    if status != 0 or "replay done" not in text:
        raise HarnessError(f"replay failed (status {status}):\n{text}")
    return text


def score(input_bag: Path, output_bag: Path, out_dir: Path, plots: bool = True) -> tuple[dict[str, Any], str]:
    """mpm_ros.bags.report on the recording: (report, its table + what was written); report.json in out_dir."""
    import json

    from mpm_ros.bags.report import compute_report, format_table, write_plots
    from mpm_ros.bags.run_data import load_run

    run = load_run(input_bag, output_bag)
    report = compute_report(run)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    written = [out_dir / "report.json", *(write_plots(run, report, out_dir) if plots else [])]
    return report, "\n".join([format_table(report), *(f"report: wrote {path}" for path in written)])


def run_pipeline(options: RunOptions) -> RunResult:
    """Start the lifter, wait until it is discovered, replay + record, stop it with SIGINT, score."""
    out, p = options.out_dir, options.prefix
    out.mkdir(parents=True, exist_ok=True)
    output_bag = out / "output_bag"
    with NodeProcess(out / "node.log", options.node.parameters(), options.node.env) as lifter:
        say(p, f"lift_node started (pid {lifter.pid}, log {lifter.log}); waiting up to "
               f"{options.discovery_timeout_s:.0f} s for it to be discovered")
        waited = wait_discovered(lifter, options.discovery_timeout_s)
        say(p, f"lift_node discovered after {waited:.1f} s; replaying {options.input_bag}")
        replay_log = replay_through(lifter, options.input_bag, output_bag, out / "replay.log", options.drain_s,
                                    options.replay_timeout_s)
        status = lifter.stop()
    if options.verbose:
        print(replay_log, end="", flush=True)
    if status != 0:
        say(p, f"WARNING: lift_node exited with status {status} on SIGINT (log {lifter.log})", err=True)
    report, text = score(options.input_bag, output_bag, out, options.plots)
    if options.verbose:
        print(text, flush=True)
    return RunResult(report, text, output_bag, status, lifter.log_text(), replay_log, waited)
