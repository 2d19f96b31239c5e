"""Replay a rosbag2 through rclpy with its original relative timing, and record what comes back.

Messages are published as raw CDR (no rclpy message construction). By default header stamps are moved
to "now" (keeping relative timing, ground truth shifted identically) so the node's output stamps and the
recorder's receive times share one clock and end-to-end latency is measurable. The output bag holds the
republished inputs (log time = publish time) and every recorded topic (log time = receive time).

    python -m mpm_ros.bags.replay --bag demo_bag --record out_bag
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpm_ros.bags import bag_io

_NS = 1_000_000_000
DEFAULT_RECORD_TOPICS = f"{bag_io.SKELETONS3D_TOPIC},{bag_io.MARKERS_TOPIC},{bag_io.DIAGNOSTICS_TOPIC}"


def msg_class(msgtype: str) -> Any:
    """rclpy message class for 'pkg/msg/Name'."""
    try:
        package, kind, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ValueError, ImportError, AttributeError) as err:
        raise ValueError(f"message type {msgtype!r} is not available to rclpy here ({err})") from None


@dataclass
class ReplayStats:
    """Counts a caller (or test) can check after a run."""

    published: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # bag topics whose type rclpy lacks here (e.g. /tf_static)
    recorded: dict[str, int] = field(default_factory=dict)
    loops: int = 0
    interrupted: bool = False


class _Recorder:
    """Thread-safe writer: inputs are written from the publish loop, outputs from executor callbacks."""

    def __init__(self, path: Path, storage: str) -> None:
        self._writer = bag_io.open_writer(path, storage)
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        with self._lock:
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, typestore=bag_io.typestore())
                self.counts[topic] = 0

    def write(self, topic: str, log_time_ns: int, raw: bytes) -> None:
        with self._lock:
            if self._writer is None or topic not in self._connections:
                return
            self._writer.write(self._connections[topic], log_time_ns, raw)
            self.counts[topic] += 1

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def available(msgtype: str) -> bool:
    """True when rclpy has the message class (tf2_msgs, for one, is absent from a venv without tf2)."""
    try:
        msg_class(msgtype)
    except ValueError:
        return False
    return True


def publish_qos(topic: str) -> Any:
    """Reliable, depth 100; /tf_static latched (transient local, keep last 1) as tf2's static listener expects:
    a volatile publisher never reaches it."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    if topic == bag_io.TF_STATIC_TOPIC:
        return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def _record_qos(node: Any, topic: str, wait_s: float, stop: threading.Event) -> Any:
    """QoS compatible with the topic's publishers (best effort if any of them is), like `ros2 bag record`."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    deadline = time.monotonic() + wait_s
    infos = node.get_publishers_info_by_topic(topic)
    while not infos and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.05)
        infos = node.get_publishers_info_by_topic(topic)
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
    return QoSProfile(depth=1000, reliability=reliability)


def _topic_type(node: Any, topic: str, wait_s: float, stop: threading.Event) -> str | None:
    """Type of a topic to record: known ones directly, others from the ROS graph."""
    if topic in bag_io.KNOWN_TOPIC_TYPES:
        return bag_io.KNOWN_TOPIC_TYPES[topic]
    deadline = time.monotonic() + wait_s
    while not stop.is_set():
        types = dict(node.get_topic_names_and_types())
        if types.get(topic):
            return types[topic][0]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
    return None


def _sleep_until(target_ns: int, stop: threading.Event) -> None:
    remaining = (target_ns - time.monotonic_ns()) / _NS
    if remaining > 0:
        stop.wait(remaining)


def run_replay(args: argparse.Namespace, stop: threading.Event) -> ReplayStats:
    """Publish the bag (once or looped), recording inputs and `--record-topics` when `--record` is set."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    bag_types = bag_io.bag_topics(args.bag)
    topics = args.topics or [t for t in bag_types if available(bag_types[t])]  # a named topic must be publishable
    if unknown := [t for t in topics if t not in bag_types]:
        raise ValueError(f"topics {unknown} not in bag {args.bag}; it has {sorted(bag_types)}")
    record_topics = [t for t in args.record_topics.split(",") if t] if args.record else []

    stats = ReplayStats(published={t: 0 for t in topics}, skipped=sorted(set(bag_types) - set(topics))
                        if not args.topics else [])
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("mpm_replay")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    recorder = _Recorder(Path(args.record), args.storage) if args.record else None
    last_output_stamp = [-1]
    try:
        for topic in stats.skipped:
            node.get_logger().warning(f"not publishing {topic}: rclpy has no {bag_types[topic]} here "
                                      "(a real ROS install has it)")
        publishers = {t: node.create_publisher(msg_class(bag_types[t]), t, publish_qos(t)) for t in topics}
        restamped = {t: (not args.keep_stamps) and bag_io.has_header(bag_types[t]) for t in topics}
        if recorder is not None:
            for topic in topics:  # images stay in the input bag: recording them would double a large bag
                if bag_types[topic] != bag_io.IMAGE_TYPE:
                    recorder.add_topic(topic, bag_types[topic])
            for topic in record_topics:
                _subscribe_recorder(node, recorder, topic, args.wait_timeout, stop, last_output_stamp)
        _wait_for_peers(node, publishers, args.wait_timeout, stop)

        last_input_stamp = -1
        while not stop.is_set():
            last_input_stamp = _publish_bag(args, topics, publishers, restamped, recorder, stats, stop)
            if last_input_stamp is None:
                node.get_logger().warning(f"{args.bag} has no messages on {topics}")
                break
            stats.loops += 1
            if not args.loop:
                break
        _drain(args.drain, stop, last_output_stamp, -1 if last_input_stamp is None else last_input_stamp,
               bool(record_topics))
    finally:
        stats.interrupted = stop.is_set()
        executor.shutdown(timeout_sec=1.0)
        # Join the spinner before tearing down rclpy: a thread still inside the executor at interpreter exit
        # aborts the process ("terminate called without an active exception").
        spinner.join(timeout=5.0)
        if recorder is not None:
            recorder.close()
            stats.recorded = dict(recorder.counts)
        node.destroy_node()
        rclpy.try_shutdown()
    return stats


def _publish_bag(args: argparse.Namespace, topics: list[str], publishers: dict[str, Any], restamped: dict[str, bool],
                 recorder: _Recorder | None, stats: ReplayStats, stop: threading.Event) -> int | None:
    """One pass over the bag in real time (scaled by --rate); returns the last /keypoints stamp sent
    (-1 if none) or None for an empty bag."""
    first_log: int | None = None
    wall0 = mono0 = 0
    last_input_stamp = -1
    for topic, _msgtype, log_time, raw in bag_io.iter_raw(args.bag, topics):
        if first_log is None:
            first_log, wall0, mono0 = log_time, time.time_ns(), time.monotonic_ns()
        _sleep_until(mono0 + int((log_time - first_log) / args.rate), stop)
        if stop.is_set():
            break
        if restamped[topic]:
            raw = bag_io.restamp(raw, wall0 + int((bag_io.header_stamp_ns(raw) - first_log) / args.rate))
        publishers[topic].publish(raw)
        stats.published[topic] += 1
        if topic == bag_io.KEYPOINTS_TOPIC:
            last_input_stamp = bag_io.header_stamp_ns(raw)
        if recorder is not None:
            recorder.write(topic, time.time_ns(), raw)
    return None if first_log is None else last_input_stamp


def _subscribe_recorder(node: Any, recorder: _Recorder, topic: str, wait_s: float,
                        stop: threading.Event, last_output_stamp: list[int]) -> None:
    msgtype = _topic_type(node, topic, wait_s, stop)
    if msgtype is None:
        node.get_logger().warning(f"not recording {topic}: no publisher announced its type within {wait_s:.1f} s")
        return
    recorder.add_topic(topic, msgtype)
    tracks_stamp = topic == bag_io.SKELETONS3D_TOPIC and bag_io.has_header(msgtype)

    def on_message(raw: bytes, info: Any) -> None:
        received = int(info.get("received_timestamp", 0)) or time.time_ns()
        recorder.write(topic, received, raw)
        if tracks_stamp:
            last_output_stamp[0] = max(last_output_stamp[0], bag_io.header_stamp_ns(raw))

    node.create_subscription(msg_class(msgtype), topic, on_message,
                             _record_qos(node, topic, wait_s, stop), raw=True)


def _wait_for_peers(node: Any, publishers: dict[str, Any], wait_s: float, stop: threading.Event) -> None:
    """Start only when the keypoint consumer is there, so the first frames are not lost to discovery."""
    waited_for = publishers.get(bag_io.KEYPOINTS_TOPIC)
    if waited_for is None or wait_s <= 0:
        return
    deadline = time.monotonic() + wait_s
    while waited_for.get_subscription_count() == 0 and not stop.is_set():
        if time.monotonic() >= deadline:
            node.get_logger().warning(
                f"no subscriber on {bag_io.KEYPOINTS_TOPIC} after {wait_s:.1f} s; replaying anyway")
            return
        time.sleep(0.05)
    stop.wait(0.3)  # discovery is per-endpoint: give the remaining matches a moment to complete


def _drain(drain_s: float, stop: threading.Event, last_output_stamp: list[int],
           last_input_stamp: int, recording: bool) -> None:
    """Let outputs for the last frames arrive; ends early once the last input's output is in."""
    if not recording:
        return
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline and not stop.is_set():
        if last_input_stamp >= 0 and last_output_stamp[0] >= last_input_stamp:
            stop.wait(0.2)  # markers/diagnostics for that frame follow the skeletons closely
            return
        time.sleep(0.02)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, required=True, help="rosbag2 directory to replay")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    parser.add_argument("--record", type=Path, help="output bag directory (must not exist)")
    parser.add_argument("--storage", choices=sorted(bag_io.STORAGE_PLUGINS), default="mcap",
                        help="storage of the output bag")
    parser.add_argument("--loop", action="store_true", help="replay until interrupted")
    parser.add_argument("--keep-stamps", action="store_true",
                        help="publish original header stamps instead of re-stamping to now")
    parser.add_argument("--topics", nargs="+", help="bag topics to publish (default: all)")
    parser.add_argument("--record-topics", default=DEFAULT_RECORD_TOPICS,
                        help=f"comma-separated topics to record besides the inputs (default {DEFAULT_RECORD_TOPICS})")
    parser.add_argument("--wait-timeout", type=float, default=10.0,
                        help="seconds to wait for a /keypoints subscriber and record-topic publishers (0: no wait)")
    parser.add_argument("--drain", type=float, default=2.0, help="max seconds to keep recording after the bag ends")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rate <= 0:
        raise SystemExit(f"--rate must be > 0, got {args.rate}")
    if args.record is not None and args.record.exists():
        raise SystemExit(f"--record {args.record} exists already; rosbag2 output must be a new directory")
    if not args.bag.exists():
        raise SystemExit(f"--bag {args.bag} does not exist")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = run_replay(args, stop)
    except ValueError as err:
        raise SystemExit(f"replay: {err}") from None
    state = "interrupted" if stats.interrupted else "done"
    print(f"replay {state}: loops={stats.loops} published={stats.published}"
          + (f" skipped={stats.skipped} (no message class here)" if stats.skipped else "")
          + (f" recorded={stats.recorded} -> {args.record}" if args.record else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
