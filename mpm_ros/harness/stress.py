"""Fuzz and soak the mpm_lifter node as a separate process, over DDS, beside good tracks.

    python -m mpm_ros.harness.stress fuzz                    # ~20 s; part of `make test` (test/test_stress_fuzz.py)
    python -m mpm_ros.harness.stress soak --minutes 10       # the soak figures of docs/NODE.md
    python -m mpm_ros.harness.stress together --nodes 3      # nodes starting together share one empty cache
    python -m mpm_ros.harness.stress overload                # more tracks than it can lift: /diagnostics WARN

fuzz: every bad-input class of issue 11 (and seeded random mutations of valid messages) is published between the
frames of two good tracks. It asserts the node stays alive, answers every good frame, is exact afterwards (the
last clean frames equal an in-process reference on the same model, root-relative), counts every bad input by
reason, never publishes NaN, an all-masked skeleton or a confidence > 1, and logs no traceback or error; then
SIGINT → exit 0.
soak: N churning tracks at a fixed rate for M minutes; prints RSS, completeness, end-to-end latency (receive
time − source stamp, same clock) and the load average every sample period.
together, overload: mpm_ros/harness/stress_load.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray
from sensor_msgs.msg import CameraInfo

from mpm_model.untrained import random_checkpoint, tiny_config
from mpm_ros import messages
from mpm_ros.harness.driver import Driver
from mpm_ros.harness.process import NodeProcess, log_problems
from mpm_ros.harness.stress_inputs import (BAD_INPUTS, FPS, GOOD, HEIGHT, K, PERIOD_NS, WIDTH, camera_info,
                                           keypoints_msg, mutate, walker_frame, walking_pixels)
from mpm_ros.harness.stress_load import run_overload, run_together
CLIP_FRAMES = 90  # 3 s walker clips: they stay inside the 1000x1000 image (longer walks leave it)


class LifterWatch:
    """The stress runs' driver (mpm_ros.harness.driver): publishes keypoints and camera_info in a private context
    and records, per output, its receive time (time.time()), source stamp and track ids, plus any problem with its
    content; whole messages only if `keep`."""

    def __init__(self, keep: bool) -> None:
        self.driver = Driver("mpm_stress_driver")
        self.keep = keep
        self.messages: dict[int, Skeleton3DArray] = {}  # by source stamp (keep only)
        self.received: list[tuple[float, int, tuple[int, ...]]] = []
        self.answered: dict[int, set[int]] = {}
        self.problems: list[str] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.driver.publisher(Skeleton2DArray, "keypoints")
        self.driver.publisher(CameraInfo, "camera_info")
        self.driver.record(Skeleton3DArray, "skeletons3d", self._on_output)
        self.driver.record(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.spin_until = self.driver.spin_until

    def _on_output(self, msg: Skeleton3DArray) -> None:
        stamp, ids = stamp_of(msg), tuple(s.track_id for s in msg.skeletons)
        self.received.append((time.time(), stamp, ids))
        self.answered.setdefault(stamp, set()).update(ids)
        self.problems += output_problems(msg)
        if self.keep:
            self.messages[stamp] = msg

    def wait_connected(self, node: NodeProcess, timeout: float) -> bool:
        """True once the node's topics are matched; False on timeout or when the node process has exited."""
        topics = {"inputs": ["keypoints"], "outputs": ["skeletons3d", "/diagnostics"]}
        self.spin_until(lambda: not node.alive or self.driver.matched(**topics), timeout)
        return node.alive and self.driver.matched(["keypoints"])

    def publish(self, msg: Skeleton2DArray | CameraInfo) -> None:
        self.driver.publish("camera_info" if isinstance(msg, CameraInfo) else "keypoints", msg)

    def diagnostic_values(self) -> dict[str, str]:
        return {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values} if self.diagnostics else {}

    def close(self) -> None:
        self.driver.close()


def stamp_of(msg) -> int:
    return messages.ns_from_time(msg.header.stamp)


def output_problems(msg: Skeleton3DArray) -> list[str]:
    """Non-finite joints, all-masked skeletons or confidences outside [0, 1] in one published message."""
    problems = []
    for skeleton in msg.skeletons:
        where = f"track {skeleton.track_id} @ {stamp_of(msg)}"
        joints = np.array([(p.x, p.y, p.z) for p in skeleton.joints])
        if joints.shape != (17, 3) or not np.isfinite(joints).all():
            problems.append(f"{where}: joints of shape {joints.shape} or non-finite")
        if all(skeleton.masked):
            problems.append(f"{where}: every joint masked")
        if not all(0.0 <= c <= 1.0 for c in skeleton.confidence):
            problems.append(f"{where}: confidence outside [0, 1]")
    return problems


def reference_joints(checkpoint: Path, engine_dir: Path, frames: list[tuple[int, dict[int, np.ndarray]]]
                     ) -> dict[int, np.ndarray]:
    """{track: (17, 3)} for the last of `frames`, computed in-process from a fresh buffer on the same model (its
    root is the fresh root state's: compare root-relative joints)."""
    from mpm_model.deploy.backends import create_backend
    from mpm_model.streaming import Camera, LifterOptions, Observation, StreamingLifter, StreamOptions

    backend = create_backend("torch", checkpoint=checkpoint, device="cpu", precision="fp32", engine_dir=engine_dir)
    lifter = StreamingLifter(backend, LifterOptions(StreamOptions(min_visible_joints=4, frame_rate=FPS)))
    camera = Camera(WIDTH, HEIGHT, np.array(K, np.float64).reshape(3, 3))
    for stamp, tracks in frames:
        _, lifted = lifter.step(stamp, {t: Observation(p, np.full(17, 0.9)) for t, p in tracks.items()}, camera)
    return dict(zip(lifted[-1].track_ids, lifted[-1].joints))


def run_fuzz(seed: int, mutations: int, rounds: int, workdir: Path) -> list[str]:
    """The fuzz run; returns the failures (empty = pass)."""
    checkpoint = random_checkpoint(workdir / "stress_tiny_t9.pt", tiny_config())
    node = NodeProcess(workdir / "node.log", {
        "checkpoint": str(checkpoint), "backend": "torch", "device": "cpu", "engine_dir": str(workdir),
        "image_width": str(WIDTH), "image_height": str(HEIGHT), "frame_rate": "30.0"})
    driver = LifterWatch(keep=True)
    rng = np.random.default_rng(seed)
    clips = {t: walking_pixels(CLIP_FRAMES, seed=t) for t in GOOD}
    t0 = 1_700_000_000 * 10**9
    failures: list[str] = []
    answered = Counter()
    expected = Counter()
    clean: list[tuple[int, dict[int, np.ndarray]]] = []
    try:
        if not driver.wait_connected(node, 120.0):
            return [f"the node did not come up:\n{node.log_text()}"]
        first = 0  # until the first answer, DDS matching may still lose frames: not counted
        while not driver.answered:
            if first == 200:
                return [f"no answer to 200 good frames:\n{node.log_text()}"]
            driver.publish(camera_info())
            driver.publish(keypoints_msg(t0 + first * PERIOD_NS, {t: walker_frame(clips[t], first) for t in GOOD}))
            driver.spin_until(lambda: bool(driver.answered), 0.2)
            first += 1
        schedule = ["warmup"] * 30 + [name for _ in range(rounds) for name, _, _ in BAD_INPUTS] + \
                   ["mutation"] * mutations + ["settle"] * 10 + ["clean"] * 15
        builders = {name: (counter, build) for name, counter, build in BAD_INPUTS}
        for k, kind in enumerate(schedule, start=first):
            stamp = t0 + k * PERIOD_NS
            good = {t: walker_frame(clips[t], k) for t in GOOD}
            driver.publish(keypoints_msg(stamp, good))
            if kind in builders:
                counter, build = builders[kind]
                driver.publish(build(stamp, good[1]))
                expected[counter] += 1
            elif kind == "mutation":
                driver.publish(mutate(rng, stamp, good[1]))
            clean = clean + [(stamp, good)] if kind == "clean" else []
            phase = "fuzz" if kind in builders or kind in ("mutation", "settle") else kind
            # a bad frame may legitimately hold a good one back (e.g. stamped a few frames ahead): wait less
            timeout = 0.5 if phase == "fuzz" else 3.0
            if driver.spin_until(lambda: driver.answered.get(stamp, set()) >= set(GOOD), timeout):
                answered[phase] += 1
            answered[phase + "_sent"] += 1
            if not node.alive:
                return [f"the node exited with {node.process.returncode} during the {phase} phase:\n{node.log_text()}"]
        reference, worst = reference_joints(checkpoint, workdir, clean), 0.0
        last = driver.messages.get(clean[-1][0])
        if last is None:
            failures.append("the last clean frame was not answered")
        for skeleton in last.skeletons if last else []:
            if skeleton.track_id not in GOOD:
                continue
            got = np.array([(p.x, p.y, p.z) for p in skeleton.joints])
            fresh = reference[skeleton.track_id]  # root-relative: the root state remembers the fuzz phase
            error = float(np.abs((got - got[:1]) - (fresh - fresh[:1])).max())
            worst = max(worst, error)
            if error > 1e-3:
                failures.append(f"track {skeleton.track_id} after the fuzz differs from the reference by {error:.4f} m")
        diagnostics_after = len(driver.diagnostics)
        driver.spin_until(lambda: len(driver.diagnostics) >= diagnostics_after + 2, 5.0)
        values = driver.diagnostic_values()
        for counter, count in sorted(expected.items()):
            if int(values.get(counter, 0)) < count:
                failures.append(f"{counter} = {values.get(counter, 0)}, but {count} such inputs were sent")
        print(f"fuzz: good tracks after the fuzz vs an in-process reference: max |error| {worst:.2e} m")
        for phase in ("warmup", "fuzz", "clean"):
            print(f"fuzz: {phase:6s} good frames answered with both good tracks: {answered[phase]}/"
                  f"{answered[phase + '_sent']}")
        if answered["clean"] != answered["clean_sent"] or answered["warmup"] != answered["warmup_sent"]:
            failures.append("good tracks were not answered in every clean frame")
        failures += driver.problems[:10]
        print("fuzz: counters " + ", ".join(f"{k}={v}" for k, v in values.items()
                                            if k.startswith(("dropped.", "masked.", "buffer_resets"))))
    finally:
        driver.close()
        returncode = node.stop(timeout_s=30.0)
    log = node.log_text()
    if returncode != 0:
        failures.append(f"SIGINT: exit status {returncode}")
    failures += log_problems(log)
    print(f"fuzz: {sum(expected.values())} bad inputs of {len(BAD_INPUTS)} classes + {mutations} random mutations "
          f"(seed {seed}); {len(driver.received)} outputs checked; node exit {returncode}; log {node.log}")
    return failures


def run_soak(minutes: float, tracks: int, rate: float, checkpoint: str, backend: str, sample_s: float,
             workdir: Path) -> list[str]:
    """Real-time soak with churning tracks; prints one row per sample period and a summary."""
    node = NodeProcess(workdir / "node.log", {"checkpoint": checkpoint, "backend": backend,
                                              "image_width": str(WIDTH), "image_height": str(HEIGHT)})
    driver = LifterWatch(keep=False)
    rng = np.random.default_rng(0)
    pool = [walking_pixels(CLIP_FRAMES, seed=k) for k in range(2 * tracks)]
    slots = [[k, int(rng.integers(0, CLIP_FRAMES)), int(rng.integers(rate * 3, rate * 15))] for k in range(tracks)]
    next_id = tracks
    sent: list[tuple[float, int, tuple[int, ...]]] = []  # (send time, stamp, track ids)
    samples: list[tuple[float, float, float]] = []  # (t, RSS MB, 1-min load)
    try:
        if not driver.wait_connected(node, 600.0):
            return [f"the node did not come up:\n{node.log_text()}"]
        start = time.time()
        end, next_frame, next_sample, next_camera = start + minutes * 60, start, start, start
        while (now := time.time()) < end and node.alive:
            if now >= next_camera:
                driver.publish(camera_info())
                next_camera += 1.0
            if now >= next_sample:
                samples.append((now - start, node.rss_mb(), os.getloadavg()[0]))
                next_sample += sample_s
            if now >= next_frame:
                stamp = time.time_ns()
                frame = {slot[0]: walker_frame(pool[slot[0] % len(pool)], slot[1]) for slot in slots}
                driver.publish(keypoints_msg(stamp, frame))
                sent.append((now, stamp, tuple(frame)))
                for slot in slots:  # churn: a track leaves after its lifetime, a new id takes its place
                    slot[1], slot[2] = slot[1] + 1, slot[2] - 1
                    if slot[2] <= 0:
                        slot[:] = [next_id, int(rng.integers(0, CLIP_FRAMES)), int(rng.integers(rate * 3, rate * 15))]
                        next_id += 1
                next_frame += 1.0 / rate
            driver.driver.executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_sample) - time.time()))
        driver.spin_until(lambda: False, 1.0)
        samples.append((time.time() - start, node.rss_mb(), os.getloadavg()[0]))
    finally:
        driver.close()
        returncode = node.stop(timeout_s=30.0)
    print_soak_table(sent, driver.received, samples, tracks, rate, next_id)
    print("soak: node counters " + ", ".join(f"{k}={v}" for k, v in driver.diagnostic_values().items()
                                             if k.startswith(("dropped", "masked", "buffer_resets"))))
    failures = driver.problems[:10]
    if returncode != 0:
        failures.append(f"SIGINT: exit status {returncode}")
    return failures + log_problems(node.log_text())


Frames = list[tuple[float, int, tuple[int, ...]]]  # (wall time, source stamp ns, track ids)


def print_soak_table(sent: Frames, received: Frames, samples: list[tuple[float, float, float]], tracks: int,
                     rate: float, ids: int) -> None:
    """Per sample period: RSS, completeness of (frame, track) pairs, end-to-end latency, load average."""
    answered = {(stamp, track) for _, stamp, ids_ in received for track in ids_}
    latency_by_stamp = {stamp: t for t, stamp, _ in received}
    start = sent[0][0] if sent else 0.0
    print(f"soak: {tracks} tracks at {rate:g} Hz, {ids} track ids in total, {len(sent)} frames")
    print("| t (s) | node RSS MB | completeness | e2e p50 ms | e2e p99 ms | load avg 1 min |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    all_pairs, all_hits, all_latency = 0, 0, []
    for (t, rss, load), (t_next, _, _) in zip(samples, samples[1:] + [(float("inf"), 0, 0)]):
        window = [(stamp, ids_) for when, stamp, ids_ in sent if t <= when - start < t_next]
        pairs = sum(len(ids_) for _, ids_ in window)
        hits = sum((stamp, track) in answered for stamp, ids_ in window for track in ids_)
        latency = [(latency_by_stamp[stamp] - stamp / 1e9) * 1e3 for stamp, _ in window if stamp in latency_by_stamp]
        all_pairs, all_hits, all_latency = all_pairs + pairs, all_hits + hits, all_latency + latency
        if not pairs:  # the closing sample: RSS and load only
            print(f"| {t:.0f} | {rss:.1f} | – | – | – | {load:.2f} |")
            continue
        p50, p99 = np.percentile(latency, [50, 99]) if latency else (float("nan"),) * 2
        print(f"| {t:.0f} | {rss:.1f} | {hits / pairs:.4f} | {p50:.1f} | {p99:.1f} | {load:.2f} |")
    p50, p99 = np.percentile(all_latency, [50, 99]) if all_latency else (float("nan"),) * 2
    print(f"soak: RSS {samples[0][1]:.1f} MB at {samples[0][0]:.0f} s → {samples[-1][1]:.1f} MB at "
          f"{samples[-1][0]:.0f} s; completeness {all_hits}/{all_pairs} = {all_hits / max(all_pairs, 1):.4f}; "
          f"e2e p50 {p50:.1f} ms, p99 {p99:.1f} ms; load avg 1 min {min(s[2] for s in samples):.2f}–"
          f"{max(s[2] for s in samples):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.harness.stress", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    fuzz = modes.add_parser("fuzz", help="every bad-input class + random mutations beside two good tracks")
    fuzz.add_argument("--seed", type=int, default=0)
    fuzz.add_argument("--mutations", type=int, default=150, help="random mutations of valid messages")
    fuzz.add_argument("--rounds", type=int, default=2, help="times each bad-input class is sent")
    soak = modes.add_parser("soak", help="churning tracks in real time; RSS, completeness, latency, load")
    soak.add_argument("--minutes", type=float, default=10.0)
    soak.add_argument("--tracks", type=int, default=10)
    soak.add_argument("--rate", type=float, default=30.0, help="frames per second")
    soak.add_argument("--checkpoint", default="mpm_t27_causal",
                      help="shipped name or .pt; '' = untrained model of the default (full) size")
    soak.add_argument("--backend", default="auto")
    soak.add_argument("--sample-s", type=float, default=60.0, help="seconds per table row")
    together = modes.add_parser("together", help="lifter processes started together on one empty engine cache")
    together.add_argument("--nodes", type=int, default=3)
    together.add_argument("--checkpoint", default="mpm_t27_causal")
    overload = modes.add_parser("overload", help="more tracks than the node can lift: /diagnostics must WARN")
    overload.add_argument("--seconds", type=float, default=8.0)
    overload.add_argument("--tracks", type=int, default=40)
    overload.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mpm_stress_") as tmp:
        workdir = Path(tmp)
        if args.mode == "fuzz":
            failures = run_fuzz(args.seed, args.mutations, args.rounds, workdir)
        elif args.mode == "together":
            failures = run_together(args.nodes, args.checkpoint, workdir)
        elif args.mode == "overload":
            failures = run_overload(args.seconds, args.tracks, args.rate, workdir)
        else:
            failures = run_soak(args.minutes, args.tracks, args.rate, args.checkpoint, args.backend, args.sample_s,
                                workdir)
        for failure in failures:
            print(f"{args.mode}: FAIL {failure}")
        print(f"{args.mode}: {'FAILED' if failures else 'passed'}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
