"""How many camera images reach mpm_pose2d, per transport setting (issue 25, item 9; table in docs/CAMERA.md).

The node runs as its own process (mpm_ros.harness.process.NodeProcess: in-process delivery would hide the
transport); this process publishes `--frames` 640x480 rgb8 images at `--rate` Hz through a real rclpy
publisher (best effort or reliable) and counts, per configuration: images the node received (its
/diagnostics `images_received`), keypoints answers, images it dropped itself (`dropped.*`) and images it inferred
lost on the way (`images_lost_before_node`, from stamp gaps).

    python -m mpm_ros.harness.image_loss --frames 300
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from mpm_msgs.msg import Skeleton2DArray
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from mpm_model.vision.image import rgb_to_image_fields
from mpm_ros import messages
from mpm_ros.harness.driver import Driver
from mpm_ros.harness.process import HarnessError, NodeProcess

T0 = 1_700_000_000_000_000_000
STATUS = "mpm_pose2d: detector"


@dataclass(frozen=True)
class Setting:
    """One row: the camera's publisher reliability and the node's image_reliable."""

    name: str
    reliable_publisher: bool
    image_reliable: bool


SETTINGS = (Setting("best-effort camera, default node", False, False),
            Setting("reliable camera, default node (best effort)", True, False),
            Setting("reliable camera, image_reliable:=true", True, True))


def run_setting(setting: Setting, frames: int, rate_hz: float, log_dir: Path, node_env: dict[str, str],
                width: int = 640, height: int = 480) -> dict[str, float | str]:
    """Publish `frames` images at `rate_hz` into a fresh mpm_pose2d process; its counts after a 3 s drain."""
    params = {"image_reliable": str(setting.image_reliable).lower()}
    with NodeProcess(log_dir / f"pose2d_{setting.image_reliable}_{setting.reliable_publisher}.log", params, node_env,
                     module="mpm_ros.pose2d_node") as node:
        driver = Driver("mpm_image_loss_camera")
        try:
            qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE) if setting.reliable_publisher \
                else qos_profile_sensor_data
            publisher = driver.node.create_publisher(Image, "image", qos)
            answers: set[int] = set()
            statuses: list[dict[str, str]] = []
            driver.record(Skeleton2DArray, "keypoints", lambda m: answers.add(messages.ns_from_time(m.header.stamp)))
            driver.record(DiagnosticArray, "/diagnostics", lambda m: statuses.extend(
                {kv.key: kv.value for kv in s.values} for s in m.status if s.name == STATUS), 10)
            if not driver.spin_until(lambda: publisher.get_subscription_count() > 0 and bool(statuses), 60.0):
                raise node.failure("mpm_pose2d did not come up within 60 s")
            fields = rgb_to_image_fields(np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8))
            started = time.monotonic()
            for k in range(frames):
                msg = Image(**fields)
                msg.header.stamp, msg.header.frame_id = messages.time_from_ns(T0 + int(k * 1e9 / rate_hz)), "cam"
                publisher.publish(msg)
                driver.spin_until(lambda: False, max(0.0, started + (k + 1) / rate_hz - time.monotonic()))
            statuses.clear()
            driver.spin_until(lambda: False, 3.0)  # drain, then the node's next status
            if not driver.spin_until(lambda: bool(statuses), 5.0):
                raise node.failure("no /diagnostics from mpm_pose2d after the run")
            last = statuses[-1]
        finally:
            driver.close()
    received = int(last["images_received"])
    dropped = {k.removeprefix("dropped."): int(v) for k, v in last.items() if k.startswith("dropped.") and int(v)}
    return {"setting": setting.name, "sent": frames, "received": received, "answers": len(answers),
            "answers_per_frame": len(answers) / frames, "lost_in_transport": frames - received,
            "inferred_lost": int(last["images_lost_before_node"]),
            "dropped_in_node": ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none"}


def table(rows: list[dict[str, float | str]]) -> str:
    lines = ["| setting | sent | received by the node | lost in transport | inferred lost (stamp gaps) | "
             "dropped in the node | answers | answers per frame |", "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    lines += [f"| {r['setting']} | {r['sent']} | {r['received']} | {r['lost_in_transport']} | {r['inferred_lost']} | "
              f"{r['dropped_in_node']} | {r['answers']} | {r['answers_per_frame']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting (interleaved)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="transport environment, e.g. FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_shm_images.xml")
    parser.add_argument("--env-side", choices=("both", "camera", "node"), default="both",
                        help="which process gets --env (an empty value stands for unset in the other)")
    args = parser.parse_args(argv)
    env = dict(pair.split("=", 1) for pair in args.env)
    if args.env_side != "node":
        os.environ.update(env)  # before this process's first participant
    node_env = env if args.env_side != "camera" else dict.fromkeys(env, "")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as logs:
            for _ in range(args.repeats):
                for setting in SETTINGS:
                    rows.append(run_setting(setting, args.frames, args.rate, Path(logs), node_env))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
    except HarnessError as exc:
        print(exc)
        return 1
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
