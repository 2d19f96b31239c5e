"""Camera → 2D → 3D on pictures with ground truth: render mocap test clips into images, run them through
pose2d_node and the lifter (in-process, real rclpy, real MediaPipe), and score the 3D against the mocap.

    python -m mpm_ros.harness.camera_demo --out out/demo_camera          # what `make demo-camera` runs

Reports the detection rate, 2D error, root-relative MPJPE / P-MPJPE, and the CPU latency of each stage at
30 Hz (detector call, lifter inference, image publish → Skeleton3DArray received), and writes overlay PNGs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import yaml
from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from mpm_model.metrics import p_mpjpe
from mpm_model.skeleton import coco17_to_h36m17
from mpm_model.vision.image import rgb_to_image_fields
from mpm_model.vision.render import Clip, render_clip
from mpm_ros import messages
from mpm_ros.harness.driver import Driver
from mpm_ros.harness.process import ROOT
from mpm_ros.lift_node import LifterNode
from mpm_ros.pose2d_node import Pose2DNode

TEST_SLICE = ROOT.parent / "shared/data/mocap_h36m17_test_slice.npz"
BUNDLED_CLIP = ROOT / "mpm_model/assets/demo_clip.npz"
FPS = 30.0
FRAME_ID = "camera_optical_frame"
CLIP_GAP_S = 2.0  # between clips: longer than the lifter's track_timeout, so each clip starts fresh tracks
T0_NS = 1_700_000_000_000_000_000
# COCO-native H36M joints (hips, knees, ankles, shoulders, elbows, wrists): the 2D error is measured on these.
NATIVE_JOINTS = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)


def lifter_overrides(config: Path = ROOT / "config/lift.yaml", **values: Any) -> list[Parameter]:
    """The lifter parameters of config/lift.yaml (whatever checkpoint it names) plus `values`."""
    params = yaml.safe_load(config.read_text())["/**"]["ros__parameters"]
    return [Parameter(k, value=v) for k, v in (params | values).items()]


def load_clips(path: Path, keywords: tuple[str, ...], frames: int) -> list[tuple[str, np.ndarray]]:
    """The first sequence of the mocap npz whose name contains each keyword (no keywords: every sequence),
    resampled to 30 fps, at most `frames` long."""
    data = np.load(path)
    names, index, fps = data["sequence_names"], data["sequence_index"], np.broadcast_to(
        data["fps"], data["sequence_names"].shape)
    clips = []
    for keyword in keywords or tuple(str(name) for name in names):
        matches = [s for s, name in enumerate(names) if keyword in str(name)]
        if not matches:
            raise ValueError(f"no sequence of {path.name} contains {keyword!r}")
        s = matches[0]
        stride = max(1, int(round(float(fps[s]) / FPS)))
        clips.append((str(names[s]), data["poses_3d"][index == s][::stride][:frames]))
    return clips


def _stamp(msg: Any) -> int:
    return messages.ns_from_time(msg.header.stamp)


@dataclass
class Run:
    """What the driver saw: per image stamp, the publish time, keypoints, 3D outputs and overlays."""

    published: dict[int, float] = field(default_factory=dict)
    keypoints: dict[int, Skeleton2DArray] = field(default_factory=dict)
    skeletons: dict[int, Skeleton3DArray] = field(default_factory=dict)
    received: dict[int, float] = field(default_factory=dict)
    overlays: dict[int, Image] = field(default_factory=dict)


class CameraFeed:
    """The camera demo's driver (mpm_ros.harness.driver): publishes images + camera_info like a camera driver
    (best effort) and records the pipeline's outputs, spinning the in-process nodes with it."""

    def __init__(self, context: rclpy.Context, nodes: list) -> None:
        self.driver = Driver("camera_demo_driver", context, nodes)
        self.run = Run()
        self.driver.record(Skeleton2DArray, "keypoints", lambda m: self.run.keypoints.update({_stamp(m): m}))
        self.driver.record(Skeleton3DArray, "skeletons3d", self._on_skeletons)
        self.driver.record(Image, "overlay", lambda m: self.run.overlays.update({_stamp(m): m}))
        self.driver.publisher(Image, "image")
        self.driver.publisher(CameraInfo, "camera_info")
        self.spin_until = self.driver.spin_until
        self.close = self.driver.close

    def _on_skeletons(self, msg: Skeleton3DArray) -> None:
        stamp = _stamp(msg)
        self.run.received.setdefault(stamp, time.monotonic())
        self.run.skeletons[stamp] = msg

    def play(self, clip: Clip, t0_ns: int, paced: bool, timeout: float = 10.0) -> list[int]:
        """Publish the clip's frames; paced = at FPS in real time, else each after the previous one's 3D arrived."""
        k = clip.camera.intrinsics
        info = CameraInfo(width=clip.camera.width, height=clip.camera.height, k=k.reshape(-1).tolist())
        info.header.frame_id = FRAME_ID
        stamps, start = [], time.monotonic()
        for t, rgb in enumerate(clip.frames):
            stamp = t0_ns + int(round(t * 1e9 / clip.fps))
            msg = Image(**rgb_to_image_fields(rgb))
            msg.header.frame_id = FRAME_ID
            msg.header.stamp = info.header.stamp = messages.time_from_ns(stamp)
            if paced:
                self.spin_until(lambda: False, start + t / clip.fps - time.monotonic())
            self.driver.publish("camera_info", info)
            self.run.published[stamp] = time.monotonic()
            self.driver.publish("image", msg)
            stamps.append(stamp)
            if not paced:
                self.spin_until(lambda: stamp in self.run.skeletons, timeout)
        # Paced, the last image may have been dropped (detector busy): then do not wait the full timeout for it.
        self.spin_until(lambda: stamps[-1] in self.run.skeletons, timeout if not paced else 2.0)
        self.spin_until(lambda: False, 0.3)
        return stamps

    def wait_connected(self, timeout: float = 20.0) -> bool:
        return self.spin_until(lambda: self.driver.matched(["image"], ["skeletons3d", "keypoints"]), timeout)


def score_clip(clip: Clip, stamps: list[int], run: Run) -> dict[str, Any]:
    """Detection rate (of the frames the detector processed), 2D error, root-relative 3D error, for one clip."""
    processed, detected, errors2d, pred, gt = 0, 0, [], [], []
    for t, stamp in enumerate(stamps):
        kp = run.keypoints.get(stamp)
        processed += kp is not None
        if kp is None or not kp.skeletons:
            continue
        detected += 1
        s = kp.skeletons[0]
        values = np.array([(k.x, k.y, k.confidence) for k in s.keypoints], np.float32)
        pixels, _ = coco17_to_h36m17(values[:, :2], values[:, 2])
        errors2d.append(np.linalg.norm(pixels[list(NATIVE_JOINTS)] - clip.pixels[t, list(NATIVE_JOINTS)], axis=1))
        out = run.skeletons.get(stamp)
        if out is not None and out.skeletons:
            joints = np.array([(j.x, j.y, j.z) for j in out.skeletons[0].joints])
            pred.append(joints - joints[0])
            gt.append(clip.joints_cam[t] - clip.joints_cam[t, 0])
    result: dict[str, Any] = {"frames": len(stamps), "processed": processed, "detected": detected,
                              "detection_rate": detected / max(processed, 1), "lifted": len(pred)}
    if errors2d:
        result["error2d_px_median"] = float(np.median(np.concatenate(errors2d)))
    if pred:
        pred_a, gt_a = np.asarray(pred), np.asarray(gt)
        result["mpjpe_mm"] = float(np.linalg.norm(pred_a - gt_a, axis=-1).mean() * 1e3)
        result["p_mpjpe_mm"] = float(p_mpjpe(pred_a, gt_a) * 1e3)
    return result


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    return {"p50": float(np.percentile(seconds, 50) * 1e3), "p99": float(np.percentile(seconds, 99) * 1e3),
            "count": len(seconds)}


def run_camera_pipeline(clips: list[tuple[str, Clip]], paced: bool, overlay: bool, context: rclpy.Context,
                 lifter_values: dict[str, Any] | None = None) -> tuple[dict[str, Any], Run]:
    """Start both nodes, play every clip (a 2 s stamp gap between clips expires the tracks), score them."""
    pose2d = Pose2DNode(context=context, parameter_overrides=[Parameter("publish_overlay", value=overlay)])
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(**(lifter_values or {})))
    driver = CameraFeed(context, [pose2d, lifter])
    try:
        for node in (pose2d, lifter):
            if node.lifecycle_state != "active":
                raise RuntimeError(f"{node.get_name()} did not activate (state {node.lifecycle_state})")
        if not driver.wait_connected():
            raise RuntimeError("pose2d_node / lifter not discovered")
        report: dict[str, Any] = {"paced_hz": FPS if paced else None, "clips": {}}
        t0 = T0_NS
        all_stamps: list[int] = []
        for name, clip in clips:
            stamps = driver.play(clip, t0, paced)
            report["clips"][name] = score_clip(clip, stamps, driver.run)
            all_stamps += stamps
            t0 = stamps[-1] + int(CLIP_GAP_S * 1e9)
            driver.spin_until(lambda: False, CLIP_GAP_S)  # a real pause: the lifter judges stamps by its clock too
        run = driver.run
        e2e = [run.received[s] - run.published[s] for s in all_stamps if s in run.received]
        detector, lift = pose2d.stats.snapshot(), lifter.stats.snapshot()
        report["latency_ms"] = {
            "detector_p50": detector.inference_p50_ms, "detector_p99": detector.inference_p99_ms,
            "lifter_inference_p50": lift.inference_p50_ms, "lifter_inference_p99": lift.inference_p99_ms,
            "end_to_end": percentiles_ms(e2e)}
        report["dropped"] = {"pose2d": pose2d.stats.dropped(), "lifter": lifter.stats.dropped()}
        report["lifter"] = {"checkpoint": lifter.get_parameter("checkpoint").value,
                            "backend": lifter.backend_name}
        report["answered"] = sum(s in run.skeletons for s in all_stamps) / len(all_stamps)
        return report, run
    finally:
        driver.close()
        for node in (pose2d, lifter):
            node.stop_worker()
            node.destroy_node()


def summary(report: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"camera demo: lifter {report['lifter']['checkpoint']} ({report['lifter']['backend']}), "
             f"paced at {report['paced_hz']} Hz, {report['answered']:.1%} of images answered with 3D"]
    nan = float("nan")
    for name, row in report["clips"].items():
        lines.append(f"  {name}: {row['processed']}/{row['frames']} frames processed, {row['detected']} with a "
                     f"person ({row['detection_rate']:.0%}), 2D error median "
                     f"{row.get('error2d_px_median', nan):.1f} px, MPJPE {row.get('mpjpe_mm', nan):.1f} mm, "
                     f"P-MPJPE {row.get('p_mpjpe_mm', nan):.1f} mm (root-relative, {row['lifted']} frames)")
    lat = report["latency_ms"]
    e2e = lat["end_to_end"]
    lines.append(f"  latency ms (CPU): detector p50 {lat['detector_p50']:.1f} / p99 {lat['detector_p99']:.1f}; "
                 f"lifter inference p50 {lat['lifter_inference_p50']:.1f} / p99 {lat['lifter_inference_p99']:.1f}; "
                 f"end to end (image publish → 3D received) p50 {e2e.get('p50', nan):.1f} / p99 "
                 f"{e2e.get('p99', nan):.1f}")
    dropped = report["dropped"]
    lines.append(f"  dropped: pose2d {dropped['pose2d'] or 'none'}, lifter {dropped['lifter'] or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo_camera"))
    parser.add_argument("--data", type=Path, default=TEST_SLICE,
                        help="mocap npz (default: the shared test slice; the bundled demo clip when it is absent)")
    parser.add_argument("--clips", default="wave-both-hands,walk_tired_001,throwBasketball,raise-up-both-hands",
                        help="comma-separated sequence name keywords (first match in --data each; '' = all)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip (30 fps)")
    parser.add_argument("--png-every", type=int, default=15, help="write every n-th overlay frame as PNG")
    args = parser.parse_args(argv)
    import cv2

    keywords = tuple(k for k in args.clips.split(",") if k)
    if not args.data.is_file() and args.data == TEST_SLICE:
        print(f"camera demo: {TEST_SLICE} not found; using the bundled clip {BUNDLED_CLIP.name} instead")
        args.data, keywords = BUNDLED_CLIP, ()
    clips = [(name, render_clip(world, FPS)) for name, world in load_clips(args.data, keywords, args.frames)]
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        report, run = run_camera_pipeline(clips, paced=True, overlay=True, context=context)
    finally:
        rclpy.shutdown(context=context)
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, stamp in enumerate(sorted(run.overlays)):
        if i % args.png_every == 0:
            msg = run.overlays[stamp]
            rgb = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
            cv2.imwrite(str(args.out / f"overlay_{i:04d}.png"), rgb[..., ::-1])
            written += 1
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"  wrote {written} overlay PNGs and report.json to {args.out}")
    return 0 if report["answered"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
