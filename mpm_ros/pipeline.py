"""One runner for "start the lifter, replay a bag through it, stop it, score it": `make demo`, `make bench-node`
and test/test_pipeline_e2e.py all call these functions.

    python -m mpm_ros.pipeline demo  [--checkpoint NAME|PATH] [--people 2] [--duration 10] [--fps 30] [--out out/demo]
    python -m mpm_ros.pipeline bench [--tracks 1,10] [--duration 10] [--fps 30] [--runs 200] [--out out/bench]

The lifter runs as a subprocess (`python -m mpm_ros.lift_node`), replay + record as another
(`python -m mpm_ros.bags.replay`). This process waits for the lifter on the ROS graph with one rclpy context,
shut down before the replay starts (with LOCALHOST discovery Fast DDS reaches only a limited range of participant
ids on 127.0.0.1, so no context is left alive to crowd a newcomer out), and scores the recording in-process with
mpm_ros.bags.report. The node gets only the weights, the backend and the export cache directory.
The two commands themselves are in mpm_ros/pipeline_commands.py.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIP = ROOT / "mpm_model/assets/demo_clip.npz"
ENGINE_DIR = ROOT / "build/engines"  # ONNX exports cached across runs (out/ is wiped by every demo)
LIFTER_NAME = "mpm_lifter"
DISCOVERY_TIMEOUT_S = 120.0  # start-up includes imports and, on a first run, the ONNX export
REPLAY_WAIT_S = 60.0  # replay's own wait for the /keypoints subscriber (the lifter is already discovered)
STOP_TIMEOUT_S = 10.0  # SIGINT, then SIGKILL
LOG_TAIL_LINES = 30


class PipelineError(RuntimeError):
    """A run that could not complete; the message says why (with the lifter's log tail where it matters)."""


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

    def parameters(self) -> dict[str, str]:
        return {"checkpoint": self.checkpoint, "backend": self.backend,
                "engine_dir": str(Path(self.engine_dir).resolve())}

    def command(self) -> list[str]:
        args = [arg for name, value in self.parameters().items() for arg in ("-p", f"{name}:={value or repr('')}")]
        return [sys.executable, "-m", "mpm_ros.lift_node", "--ros-args", *args]


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


def _interrupt(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGINT and wait; SIGKILL when it has not ended after timeout_s. Returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"{process.args[2]} (pid {process.pid}) did not stop on SIGINT; killing it", file=sys.stderr)
            process.kill()
    return process.wait()


class LifterProcess:
    """`python -m mpm_ros.lift_node` in the background, output in `log`; leaving the `with` block always stops it."""

    def __init__(self, options: NodeOptions, log: Path) -> None:
        self.options, self.log = options, log
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> LifterProcess:
        with open(self.log, "w") as log:
            self._process = subprocess.Popen(self.options.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, "PYTHONUNBUFFERED": "1", **self.options.env})
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else -1

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int:
        """SIGINT (clean lifecycle shutdown), SIGKILL after STOP_TIMEOUT_S; the exit status."""
        return -1 if self._process is None else _interrupt(self._process)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def failure(self, what: str) -> PipelineError:
        tail = "\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:]) or "(empty)"
        return PipelineError(f"{what}\nthe end of the lift_node log ({self.log}):\n{tail}")


def wait_discovered(lifter: LifterProcess, timeout_s: float = DISCOVERY_TIMEOUT_S) -> float:
    """Seconds until the lifter is on the graph with its /keypoints subscription and /skeletons3d publisher (i.e.
    active). Uses a private rclpy context, always shut down before returning."""
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
            if time.monotonic() - started > timeout_s:
                seen = ("its node was seen on the graph but it never subscribed to /keypoints (still starting "
                        "up, or configure/activate failed?)" if name_seen else
                        "it never appeared on the ROS graph, a DDS discovery failure (another ROS_DOMAIN_ID or "
                        "discovery range in its environment? With LOCALHOST discovery Fast DDS probes only a "
                        "limited range of participant ids on 127.0.0.1: processes holding many live rclpy "
                        "contexts push a newcomer out of that range)")
                env = {k: os.environ.get(k, "") for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
                raise lifter.failure(f"lift_node (pid {lifter.pid}) was NOT DISCOVERED within {timeout_s:.0f} s "
                                     f"({env}): {seen}")
            time.sleep(0.2)
    finally:
        if probe is not None:
            probe.destroy_node()
        context.try_shutdown()
        context.destroy()


def replay_through(lifter: LifterProcess, input_bag: Path, output_bag: Path, log: Path, drain_s: float = 3.0,
                   timeout_s: float = 300.0) -> str:
    """Replay + record in a subprocess while watching the lifter; its output (ending in "replay done: ...")."""
    command = [sys.executable, "-m", "mpm_ros.bags.replay", "--bag", str(input_bag), "--record", str(output_bag),
               "--wait-timeout", str(REPLAY_WAIT_S), "--drain", str(drain_s)]
    with open(log, "w") as out:
        replay = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
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
        status = _interrupt(replay)
    text = log.read_text(errors="replace")
    if problem is not None:
        raise lifter.failure(f"{problem}; replay output:\n{text}")
    if status != 0 or "replay done" not in text:
        raise PipelineError(f"replay failed (status {status}):\n{text}")
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
    with LifterProcess(options.node, out / "node.log") as lifter:
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


def _tracks(text: str) -> tuple[int, ...]:
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.replace(",", " ").split()))  # unique, in order
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected track counts like 1,10, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive track counts, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, out, text in (("demo", "out/demo", "the end-to-end demo (`make demo`)"),
                            ("bench", "out/bench", "node end-to-end vs bare infer() (`make bench-node`)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--checkpoint", help="shipped name or .pt; '' = random init (default: the node's default, if shipped)")
        sub.add_argument("--backend", default="onnxruntime", help="lifter backend (default onnxruntime)")
        sub.add_argument("--fps", type=float, default=30.0, help="bag frame rate (default 30)")
        sub.add_argument("--duration", type=float, default=10.0, help="bag seconds (default 10)")
        sub.add_argument("--out", type=Path, default=ROOT / out, help=f"output directory, wiped first ({out})")
    commands.choices["demo"].add_argument("--people", type=int, default=2, help="tracked people (default 2)")
    bench = commands.choices["bench"]
    bench.add_argument("--tracks", type=_tracks, default=(1, 10), help="track counts (default 1,10)")
    bench.add_argument("--runs", type=int, default=200, help="timed bare infer() calls per batch (default 200)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from mpm_ros.pipeline_commands import DemoOptions, demo

            demo(DemoOptions(out=args.out, checkpoint=args.checkpoint, backend=args.backend, people=args.people,
                             fps=args.fps, duration_s=args.duration))
        else:
            from mpm_ros.pipeline_commands import BenchOptions, bench

            bench(BenchOptions(out=args.out, tracks=args.tracks, fps=args.fps, duration_s=args.duration,
                               checkpoint=args.checkpoint, backend=args.backend, runs=args.runs))
    except (PipelineError, ValueError, OSError, subprocess.CalledProcessError) as err:
        say(args.command, f"FAILED: {err}", err=True)
        return 1
    except KeyboardInterrupt:
        say(args.command, "interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
