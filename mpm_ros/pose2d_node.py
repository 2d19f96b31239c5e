"""mpm_pose2d: lifecycle node turning camera images into the lifter's input, mpm_msgs/Skeleton2DArray.

Thin glue: image → `mpm_model.vision.image.image_to_rgb` → detector (MediaPipe BlazePose or a user YOLO-pose
ONNX) → `PoseTracker` ids → Skeleton2DArray (COCO-17, stamped with the image's stamp) on `keypoints`, which
is the lifter's input topic. Optional `overlay`: the image with the 2D keypoints and the lifter's 3D
skeletons (`skeletons3d`, matched by stamp) reprojected through camera_info's K. Detection runs on the shared
InferenceWorker with a one-job queue, so a slow detector drops whole frames (counted) instead of adding latency.

    python -m mpm_ros.pose2d_node --ros-args -r image:=/camera/image_raw -r camera_info:=/camera/camera_info
"""
from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray, Skeleton3DArray
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image

from mpm_model.skeleton import coco17_to_h36m17
from mpm_model.streaming import confident, intrinsics_problem
from mpm_model.vision.detectors import LAYOUT, Detection, create_detector
from mpm_model.vision.image import ImageError, image_to_rgb, rgb_to_image_fields
from mpm_model.vision.overlay import OverlayTrack, draw_overlay
from mpm_model.vision.pose_task import default_task_path
from mpm_model.vision.tracker import PoseTracker
from mpm_ros import messages, pose2d_params
from mpm_ros.camera_health import CameraHealth, StampGaps, pose2d_report
from mpm_ros.diagnostics import RECENT_S, PipelineStats
from mpm_ros.load_health import FRAME_LOSSES
from mpm_ros.node_main import LOG_THROTTLE_S, ServingNode, reliable_qos, run_lifecycle_node, sensor_qos
from mpm_ros.worker import InferenceWorker

NODE_NAME = "mpm_pose2d"
JUMP_BACK_S = 1.0
# dropped.* reasons that lose a whole image (the /diagnostics loss rules, mpm_ros.camera_health)
IMAGE_LOSSES = FRAME_LOSSES | {"unsupported_encoding", "bad_image", "detector_busy", "zero_stamp", "stamp_too_close"}


@dataclass
class Frame:
    """An image waiting for its 3D skeletons (overlay)."""

    rgb: np.ndarray
    header: object
    track_ids: list[int]
    detections: list[Detection]
    intrinsics: np.ndarray | None


class Pose2DNode(ServingNode):
    """The lifecycle node; with autostart (default) it configures and activates itself in the constructor
    (`defer_autostart`: left to `autostart()`, as main does inside its signal guard)."""

    def __init__(self, argv: list[str] | None = None, defer_autostart: bool = False, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, pose2d_params.TABLE, argv, **kwargs)
        self.stats = PipelineStats(frame_losses=IMAGE_LOSSES)
        self.health, self.stamp_gaps = CameraHealth(), StampGaps()
        self.images_received = 0
        self._people: tuple[int, float] = (0, -float("inf"))  # (people, monotonic s) in the latest image judged
        self._detector = None
        self._model = ""
        self._tracker: PoseTracker | None = None
        self._camera_info: tuple[int, int, np.ndarray] | None = None  # (width, height, K) of the latest valid one
        self._last_stamp_ns: int | None = None
        self._overlay_frames: OrderedDict[int, Frame] = OrderedDict()
        self._overlay_lock = threading.Lock()
        self._worker = InferenceWorker("mpm_pose2d_detector", self._process_job, self._detection_failed)
        self.stamp_resets = 0
        if not defer_autostart:
            self.autostart()

    # ---- lifecycle ------------------------------------------------------------------------------------
    def validate(self, values: dict[str, Any]) -> list[str]:
        return pose2d_params.validate(values)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values, errors = self._read_parameters()
        if errors:
            return self._refuse("invalid parameters", errors)
        p = pose2d_params.to_params(values)
        model = p.model_path or (str(default_task_path()) if p.detector == "mediapipe" else "")
        try:
            self._detector = create_detector(p.detector, model, p.max_people, p.min_detection_confidence)
        except Exception as exc:  # a missing/broken model refuses the transition, never kills the node
            return self._refuse(f"cannot create the {p.detector} detector", [f"{type(exc).__name__}: {exc}"])
        self._params, self._model = p, model
        self._tracker = PoseTracker(max_age_s=p.track_max_age, max_distance=p.track_max_distance,
                                    min_confidence=p.min_confidence)
        qos = reliable_qos(p.output_qos_depth)
        self._outputs = {"keypoints": self.create_lifecycle_publisher(Skeleton2DArray, "keypoints", qos),
                         "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", qos)}
        if p.publish_overlay:
            self._outputs["overlay"] = self.create_lifecycle_publisher(Image, "overlay", qos)
        self.get_logger().info(f"configured: detector {p.detector} ({model}), up to {p.max_people} people, "
                               f"overlay {'on' if p.publish_overlay else 'off'}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._params
        qos = sensor_qos(p.input_qos_depth)
        self.health, self.stamp_gaps = CameraHealth(), StampGaps()  # "since activation"
        inputs = [self.create_subscription(
                      Image, "image", self._on_image, reliable_qos(p.input_qos_depth) if p.image_reliable else qos,
                      event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_image_incompatible)),
                  self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)]
        if p.publish_overlay:
            reliable = reliable_qos(p.output_qos_depth)
            inputs.append(self.create_subscription(Skeleton3DArray, "skeletons3d", self._on_skeletons3d, reliable))
        self._serve(inputs, self._publish_diagnostics)
        return super().on_activate(state)

    def destroy_node(self) -> None:
        """Also close the detector without a cleanup transition (the MediaPipe runtime must not be left to
        interpreter shutdown); the worker is stopped first."""
        self.stop_worker()
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        super().destroy_node()

    def _release(self) -> None:
        super()._release()
        if self._detector is not None:
            self._detector.close()
        self._detector = self._tracker = self._params = None
        self._camera_info, self._last_stamp_ns = None, None
        with self._overlay_lock:
            self._overlay_frames.clear()

    # ---- inputs (executor thread) ---------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        problem = intrinsics_problem(msg.width, msg.height, msg.k)  # the lifter's sanity rules, plain numbers
        if problem is not None:
            self._count("invalid_camera_info", f"ignoring camera_info: {problem}")
            return
        self._camera_info = (int(msg.width), int(msg.height), np.asarray(msg.k, np.float64).reshape(3, 3))

    def _on_image_incompatible(self, event: Any) -> None:
        """A best-effort image publisher and image_reliable: no image will arrive from it."""
        self._count("image.incompatible_qos", f"a publisher of '{self.resolve_topic_name('image')}' is best effort "
                    "and image_reliable is true: no image reaches this node from it (set image_reliable false, or "
                    "publish images reliably)")

    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        self.stats.input_received(now)
        self.images_received += 1
        self.health.last_image_at = now
        self.stamp_gaps.add(messages.ns_from_time(msg.header.stamp), now)
        self.stats.drop("detector_busy", self._worker.submit((msg, now), 1))  # the newest image only

    def _on_skeletons3d(self, msg: Skeleton3DArray) -> None:
        try:
            with self._overlay_lock:
                frame = self._overlay_frames.pop(messages.ns_from_time(msg.header.stamp), None)
            if frame is not None:
                self._publish_overlay(frame, {s.track_id: s for s in msg.skeletons})
        except Exception as exc:  # a callback must never raise
            self._count("internal_error", f"overlay failed: {type(exc).__name__}: {exc}")

    def _count(self, reason: str, message: str) -> None:
        """Count a drop; warn at most every LOG_THROTTLE_S per reason (a flood of one hides no other)."""
        self.stats.drop(reason)
        self._warn(reason, message)

    # ---- detection (worker thread) --------------------------------------------------------------------
    def _detection_failed(self, exc: Exception) -> None:  # one failed frame is one dropped frame
        self._count("internal_error", f"dropping a frame after an internal error: {type(exc).__name__}: {exc}")

    def _process_job(self, job: tuple[Image, float]) -> None:
        self._process(*job)

    def _stamp_ok(self, stamp_ns: int) -> bool:
        """Detector timestamps must increase by whole milliseconds (MediaPipe's VIDEO mode counts in ms): drop
        unstamped images, repeats, images within the last one's millisecond and small reorders; reset on a jump
        back (bag loop)."""
        if stamp_ns == 0:
            self._count("zero_stamp", "dropping image with stamp 0: the camera driver does not stamp its images "
                        "(the detector and the lifter need the capture time)")
            return False
        last = self._last_stamp_ns
        if last is not None and stamp_ns // 1_000_000 <= last // 1_000_000:
            if stamp_ns > last:
                self._count("stamp_too_close", f"dropping image with stamp {stamp_ns / 1e9:.6f} s: "
                            f"{(stamp_ns - last) / 1e6:.3f} ms after the last, in the same millisecond (the "
                            "detector needs images at least 1 ms apart)")
                return False
            if last - stamp_ns <= JUMP_BACK_S * 1e9:
                self._count("duplicate_stamp" if stamp_ns == last else "out_of_order_stamp",
                            f"dropping image with stamp {stamp_ns / 1e9:.6f} s (last {last / 1e9:.6f} s)")
                return False
            self.stamp_resets += 1  # not a drop: this frame is processed, after the reset
            self.get_logger().warning("image stamps jumped back (bag loop?): detector and tracks reset",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            self._detector.reset()
            self._tracker.reset()
        self._last_stamp_ns = stamp_ns
        return True

    def _process(self, msg: Image, received_at: float) -> None:
        p, detector = self._params, self._detector
        if p is None or detector is None:
            return
        try:
            rgb = image_to_rgb(msg)
        except ImageError as exc:
            self._count(exc.reason, f"dropping image: {exc}")
            self._people = (0, time.monotonic())  # a refused image shows nobody
            return
        stamp_ns = messages.ns_from_time(msg.header.stamp)
        if not self._stamp_ok(stamp_ns):
            self._people = (0, time.monotonic())
            return
        intrinsics = self._intrinsics_for(msg)
        started = time.monotonic()
        self.stats.frame_ready(started)
        detections = detector.detect(rgb, stamp_ns // 1_000_000)
        self.stats.inference_done(time.monotonic() - started)
        ids = self._tracker.update(stamp_ns * 1e-9, [d.keypoints for d in detections],
                                   [d.confidence for d in detections])
        self.stats.active_tracks = len(self._tracker.track_ids)
        out = Skeleton2DArray(header=msg.header, skeletons=[
            Skeleton2D(track_id=track_id, layout=LAYOUT, keypoints=[
                Keypoint2D(x=float(x), y=float(y), confidence=float(c))
                for (x, y), c in zip(d.keypoints, d.confidence)])
            for track_id, d in zip(ids, detections)])
        self._outputs["keypoints"].publish(out)
        self._people = (len(detections), time.monotonic())
        stamp_age_s = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9
        self.stats.output_published(time.monotonic() - received_at, stamp_age_s)
        if p.publish_overlay:
            self._queue_overlay(stamp_ns, Frame(rgb, msg.header, ids, detections, intrinsics))

    def _intrinsics_for(self, msg: Image) -> np.ndarray | None:
        """camera_info's K when it was made for images of this size; another size's K would reproject wrongly."""
        info = self._camera_info
        if info is None:
            return None
        if (info[0], info[1]) == (msg.width, msg.height):
            return info[2]
        self.health.last_size_mismatch = f"camera_info {info[0]}x{info[1]}, image {msg.width}x{msg.height}"
        self.health.last_size_mismatch_at = time.monotonic()
        self.stats.mask("camera_info_size_mismatch")
        self.get_logger().warning(f"camera_info is {info[0]}x{info[1]} but the image is {msg.width}x{msg.height}: "
                                  "its K is not used (overlay 2D-only)", throttle_duration_sec=LOG_THROTTLE_S)
        return None

    # ---- overlay --------------------------------------------------------------------------------------
    def _queue_overlay(self, stamp_ns: int, frame: Frame) -> None:
        """Keep the frame until its 3D arrives; frames waiting longer than overlay_wait_frames go out 2D-only."""
        with self._overlay_lock:
            self._overlay_frames[stamp_ns] = frame
            expired = []
            while len(self._overlay_frames) > self._params.overlay_wait_frames:
                expired.append(self._overlay_frames.popitem(last=False)[1])
        for old in expired:
            self.stats.drop("overlay_without_3d")
            self._publish_overlay(old, {})

    def _publish_overlay(self, frame: Frame, skeletons3d: dict) -> None:
        publisher, p = self._outputs.get("overlay"), self._params
        if publisher is None or p is None:
            return
        tracks = []
        for track_id, detection in zip(frame.track_ids, frame.detections):
            pixels, confidence = coco17_to_h36m17(detection.keypoints, detection.confidence)
            masked = ~confident(confidence, p.min_confidence)
            joints3d = None
            skeleton = skeletons3d.get(track_id)
            if skeleton is not None and len(skeleton.joints) == len(pixels):
                joints3d = np.array([(j.x, j.y, j.z) for j in skeleton.joints], np.float64)
                masked = np.asarray(skeleton.masked, bool) if len(skeleton.masked) == len(pixels) else masked
            color = tuple(int(round(c * 255)) for c in messages.track_color(track_id))
            tracks.append(OverlayTrack(track_id, color, pixels, masked, joints3d))
        image = Image(header=frame.header, **rgb_to_image_fields(draw_overlay(frame.rgb, tracks, frame.intrinsics)))
        publisher.publish(image)

    # ---- diagnostics ----------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        p = self._params
        if p is None or "diagnostics" not in self._outputs:
            return
        now = time.monotonic()
        people, judged_at = self._people
        people = people if now - judged_at <= RECENT_S else 0  # never a count left over from an old image
        snapshot = self.stats.snapshot(extra={
            "detector": p.detector, "model": self._model, "images_received": str(self.images_received),
            "people_last_frame": str(people), "stamp_resets": str(self.stamp_resets),
            "camera_info": "received" if self._camera_info is not None else "none yet (overlay 2D only)"}, now=now)
        report = pose2d_report(snapshot, self.stats.frame_counts(now), self.stamp_gaps, self.health,
                               self.resolve_topic_name("image"), str(people), now)
        self._outputs["diagnostics"].publish(messages.diagnostic_report(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: detector", p.detector, report))


USAGE = """usage: python -m mpm_ros.pose2d_node [--ros-args -p NAME:=VALUE -r image:=TOPIC ...]

The mpm_pose2d lifecycle node: sensor_msgs/Image on `image` (+ CameraInfo on `camera_info`) in,
mpm_msgs/Skeleton2DArray on `keypoints` (the lifter's input), optional `overlay` image and /diagnostics out."""


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C; exit status 1 when autostart could not reach the active state."""
    return run_lifecycle_node(lambda args: Pose2DNode(argv=args, defer_autostart=True), USAGE, argv)


if __name__ == "__main__":
    sys.exit(main())
