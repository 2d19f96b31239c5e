"""mpm_lifter: lifecycle node lifting mpm_msgs/Skeleton2DArray to Skeleton3DArray + markers + diagnostics.

The node only wires ROS to ROS-free parts: raw keypoints bytes → FrameDecoder (size check, CDR read, frame_id,
stamp, at most max_tracks skeletons, layouts) → StreamingLifter.push (callback thread) → InferenceWorker (bounded
drop-oldest queue + thread) → StreamingLifter.lift (ONE backend.infer() for all tracks, batched placement) →
message builders → publishers. Camera: CameraSource; /diagnostics: diagnostics.lifter_report; parameters:
params.TABLE (ServingNode). The model's window, causal/centred mode, look-ahead and rate come from the checkpoint.
yolo_ros / ros4hri detections reach it through the mpm_input_adapter relay. See docs/NODE.md.

    python -m mpm_ros.lift_node --ros-args --params-file config/lift.yaml
"""
from __future__ import annotations

import signal
import sys

if __name__ == "__main__":  # a signal during the slow imports below ends quietly: nothing to clean up yet
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, lambda *_: sys.exit(0))

import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray  # noqa: E402
from rclpy.event_handler import SubscriptionEventCallbacks  # noqa: E402
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from mpm_model.checkpoint import list_pretrained  # noqa: E402
from mpm_model.streaming import RESETS, Camera, Emission, Lifted, PushResult, StreamingLifter  # noqa: E402
from mpm_model.streaming.camera import CAMERA_HISTORY_S  # noqa: E402
from mpm_model.streaming.depth import DepthImage, decode_depth  # noqa: E402
from mpm_model.streaming.depth_history import (ARRIVED_LATE, BEHIND, FRAME_MISMATCH, DepthHistory,  # noqa: E402
                                               header_problem)
from mpm_model.streaming.person_frames import person_frames  # noqa: E402
from mpm_model.streaming.reasons import DROPPED, MASKED  # noqa: E402
from mpm_ros import keypoints_wire, messages, params, tf_output  # noqa: E402
from mpm_ros.backend_setup import UNTRAINED_WARNING, build_backend, model_problem, pose_refiner  # noqa: E402
from mpm_ros.camera_source import CAMERA_INFO_GRACE_S, CameraSource  # noqa: E402
from mpm_ros.diagnostics import (LifterHealth, PipelineStats, frame_rate_problem, lifter_report,  # noqa: E402
                                 model_mode)
from mpm_ros.frame_decoder import Decoded, Drop, FrameDecoder  # noqa: E402
from mpm_ros.inputs import clip  # noqa: E402
from mpm_ros.node_main import LOG_THROTTLE_S, ServingNode, reliable_qos, run_lifecycle_node, sensor_qos  # noqa: E402
from mpm_ros.worker import InferenceWorker  # noqa: E402

NODE_NAME = "mpm_lifter"
MAX_DEPTH_IMAGES = 32  # decoded depth images kept (a centred model's outputs describe frames delay_frames back)


@dataclass(frozen=True)
class Job:
    emissions: list[Emission]
    frame_id: str
    input_frame_id: str  # the keypoints' own frame: whose depth images apply
    cameras: list[Camera]  # per emission: the camera_info of its own stamp and frame_id (intrinsics None: unplaced)
    use_depth: bool  # look up each emission's depth image when the job runs (use_depth)
    received_at: float  # time.monotonic() when the triggering input arrived


class LifterNode(ServingNode):
    """The lifecycle node; with autostart (default) it configures and activates itself in the constructor.

    `argv` (the process arguments, given by main) lets configure refuse `-p` overrides ROS drops silently.
    `defer_autostart` leaves the autostart transitions to `autostart()` (main calls it inside its signal guard).
    """

    def __init__(self, argv: list[str] | None = None, defer_autostart: bool = False, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, params.TABLE, argv, **kwargs)
        self.stats = PipelineStats(DROPPED, MASKED)  # only registered reasons (the health rules know them all)
        self.health = LifterHealth()
        self._lifter: StreamingLifter | None = None
        self._decoder: FrameDecoder | None = None
        self._camera: CameraSource | None = None
        self._depth = DepthHistory(MAX_DEPTH_IMAGES)  # recent depth images: the executor adds, the worker finds
        self._markers = messages.MarkerNamespaces()  # worker: which namespace each track's markers are in
        self._tf: tf_output.NodeTf | None = None  # output frame (target_frame), floor (ground_frame), /tf (publish_tf)
        self._backend_name = ""
        self._worker = InferenceWorker("mpm_lifter_inference", self._run, self._inference_failed)
        if not defer_autostart:
            self.autostart()

    @property
    def backend_name(self) -> str:
        """The inference backend in use ("" before configure)."""
        return self._backend_name

    def validate(self, values: dict[str, Any]) -> list[str]:
        return params.validate(values, shipped=list_pretrained())

    # ---- lifecycle transitions -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values, errors = self._read_parameters()
        if errors:
            return self._refuse("invalid parameters", errors)
        p = params.to_params(values)
        self.get_logger().info(f"configuring: checkpoint {p.checkpoint or '(untrained)'}, backend {p.backend}")
        try:
            backend, untrained = build_backend(p)
        except Exception as exc:  # any backend failure must refuse the transition, not kill the node
            return self._refuse("cannot create the inference backend", [f"{type(exc).__name__}: {exc}"])
        problem = model_problem(backend.config)
        if problem:
            return self._refuse(f"model {p.checkpoint or '(untrained)'} cannot serve this node", [problem])
        if untrained:
            self.get_logger().warning("!" * 20 + " " + UNTRAINED_WARNING + " " + "!" * 20)
        if backend.fallback_reason:  # also WARN in /diagnostics while it lasts (diagnostics.lifter_report)
            self.get_logger().warning(f"inference backend {backend.fallback_reason}")
        cfg = backend.config
        self._params, self._backend_name = p, backend.name
        self.health = LifterHealth(untrained=untrained)
        refiner, no_refiner = pose_refiner(p.checkpoint)
        if no_refiner and p.lifter.temporal.pose_refiner:
            self.get_logger().warning(f"{no_refiner}: the pose is filtered by the smoothing parameters instead")
        self._lifter = StreamingLifter(backend, p.lifter, refiner)
        # images kept for every frame the worker may still look up: the model's delay + the queued jobs + slack
        self._depth = DepthHistory(min(MAX_DEPTH_IMAGES, self._lifter.delay_frames + p.queue_size + 4),
                                   p.depth_matching)
        self._decoder = FrameDecoder(self._lifter, lambda data: keypoints_wire.from_message(
            deserialize_message(data, Skeleton2DArray)))
        # camera_infos kept at least as long as the model's output delay (+1 s): a centred T=243 model's outputs
        # describe frames 4 s old, which must still find the camera_info of their own stamp
        self._camera = CameraSource(p.fallback, max(CAMERA_HISTORY_S, 1.0 + self._lifter.delay_frames / cfg.fps))
        output_qos = reliable_qos(p.output_qos_depth)
        self._outputs = {
            "skeletons3d": self.create_lifecycle_publisher(Skeleton3DArray, "skeletons3d", output_qos),
            "markers": self.create_lifecycle_publisher(MarkerArray, "markers", output_qos),
            "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", output_qos),
        }
        try:  # tf2_ros / tf2_msgs come with a ROS install, not with this package (mpm_ros/tf_output.py)
            self._tf = tf_output.setup(p.frames, self, reliable_qos(tf_output.TF_QOS_DEPTH))
        except ImportError as exc:
            self._release()
            return self._refuse("tf_lookup / publish_tf need tf2_ros / tf2_msgs (a ROS 2 install; else use "
                                "camera_to_target and no publish_tf)", [f"{type(exc).__name__}: {exc}"])
        self._outputs |= {"tf": self._tf.broadcaster.publisher} if self._tf.broadcaster else {}
        self._tf.set_options(p.frames, p.lifter.temporal, self.get_logger().warning)  # ground_plane without floor
        self.get_logger().info(
            f"configured: backend {backend.name} on {backend.device} ({backend.selection_reason}); from the "
            f"checkpoint: window {cfg.window}, {model_mode(cfg)}, {cfg.fps:g} fps, output delay "
            f"{self._lifter.delay_frames} frame(s)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._params
        input_qos = sensor_qos(p.input_qos_depth)
        # depth first: when an image and its keypoints wait together, the executor takes the image first
        depth = [self.create_subscription(
            Image, "depth", self._on_depth, reliable_qos(p.input_qos_depth) if p.depth_reliable else input_qos,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_depth_incompatible))
            ] if p.use_depth else []
        self._serve([*depth,  # keypoints raw: the size is checked before anything is deserialised
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, input_qos),
            self.create_subscription(Skeleton2DArray, "keypoints", self._on_keypoints, input_qos, raw=True)],
            self._publish_diagnostics)
        return super().on_activate(state)

    def _release(self) -> None:
        super()._release()
        self._lifter = self._decoder = self._camera = self._params = self._tf = None
        self._depth = DepthHistory(MAX_DEPTH_IMAGES)

    def _apply_live(self, values: dict[str, Any]) -> None:
        self._params = params.to_params(values)
        self._lifter.set_options(self._params.lifter)
        self._camera.fallback = self._params.fallback
        self._depth.set_matching(self._params.depth_matching)
        self._tf.set_options(self._params.frames, self._params.lifter.temporal, self.get_logger().warning)

    # ---- input (executor thread) ----------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        problem = self._camera.update(msg.width, msg.height, msg.k, msg.header.frame_id,
                                      messages.ns_from_time(msg.header.stamp)) if self._camera else None
        if problem:
            self._count("invalid_camera_info", f"ignoring camera_info ({problem}); skeletons stay root-relative "
                        "until a valid one arrives")

    def _on_depth(self, msg: Image) -> None:
        """An aligned depth image: header checked (encoding, camera size) before any decode, then kept (DepthHistory)."""
        try:
            if self._lifter is None:
                return
            stamp_ns, frame_id = messages.ns_from_time(msg.header.stamp), msg.header.frame_id
            refused = header_problem(msg.encoding, msg.width, msg.height, msg.step, len(msg.data),
                                     self._camera.match(stamp_ns, frame_id).camera)  # before camera_info: fallback
            if refused:
                self._count(refused[0], f"ignoring a depth image of '{clip(frame_id, 64)}': {clip(refused[1])}")
                return
            depth_m, problem = decode_depth(bytes(msg.data), msg.encoding, msg.width, msg.height, msg.step,
                                            bool(msg.is_bigendian))
            if problem:
                self._count("depth.invalid_image", f"ignoring a depth image: {clip(problem)}")
                return
            self.stats.mask(ARRIVED_LATE, self._depth.add(frame_id, DepthImage(depth_m, stamp_ns)))
        except Exception as exc:
            self.stats.drop("internal_error")
            self.get_logger().error(f"ignoring a depth image after an internal error: {type(exc).__name__}: "
                                    f"{clip(str(exc))}", throttle_duration_sec=LOG_THROTTLE_S)

    def _on_depth_incompatible(self, event: Any) -> None:
        """A best-effort depth publisher and depth_reliable: no image will arrive from it."""
        self._count("depth.incompatible_qos", f"a publisher of '{self.resolve_topic_name('depth')}' is best effort "
                    "and depth_reliable is true: no depth image reaches this node from it (set depth_reliable "
                    "false, or publish depth reliably)")

    def _depth_for(self, stamp_ns: int, frame_id: str) -> DepthImage | None:
        """This frame's depth image (DepthHistory.find: bounded wait, worker only), else None (placed from 2D); a
        frame_id mismatch or depth running behind is counted per frame and warned."""
        found = self._depth.find(stamp_ns, frame_id)
        if found.reason in (FRAME_MISMATCH, BEHIND):
            self._masked(found.reason, f"placing frame {stamp_ns / 1e9:.6f} s of '{clip(frame_id, 64)}' without "
                         "depth: " + ("no depth image of that frame_id (depth must be aligned to the keypoints' camera)"
                                      if found.reason == FRAME_MISMATCH else self._depth.behind_problem()
                                      or "depth behind"))
        return found.image

    def _on_keypoints(self, data: bytes) -> None:
        """The subscription callback (raw bytes); it never raises: count, log, keep serving."""
        received_at = time.monotonic()
        try:
            self.stats.input_received(received_at)
            if self._lifter is None:
                return
            self._camera.input_seen(received_at)
            arrival_ns = self._receive_clock_ns(received_at)
            self._handle(self._decoder.decode_bytes(data, arrival_ns, self._params.output_frame_id,
                                                    self._camera.frame_id), received_at, arrival_ns)
        except Exception as exc:
            self.stats.drop("internal_error")
            self.get_logger().error(f"dropping a frame after an internal error: {type(exc).__name__}: "
                                    f"{clip(str(exc))}", throttle_duration_sec=LOG_THROTTLE_S)

    def _receive_clock_ns(self, received_at: float) -> int | None:
        """The clock stamps are judged against (stamp_lead): monotonic, or under use_sim_time the node's clock
        (a bag played with --clock at any rate); None while sim time has not started (no /clock yet)."""
        clock = self.get_clock()  # use_sim_time switches it (ros_time_is_active): no parameter lookup per frame
        return (clock.now().nanoseconds or None) if clock.ros_time_is_active else int(received_at * 1e9)

    def _handle(self, decoded: Decoded, received_at: float, arrival_ns: int | None) -> None:
        for drop in decoded.drops:
            self._drop(drop)
        if decoded.observations is None:
            return
        _, overdue = self._camera.current(received_at)
        if overdue:
            self.get_logger().warning(
                f"no valid CameraInfo on '{self.resolve_topic_name('camera_info')}' after {CAMERA_INFO_GRACE_S} s "
                f"of keypoints: using {self._camera.fallback.describe()}")
        match = self._camera.match(decoded.stamp_ns, decoded.input_frame_id)
        camera = match.camera
        if match.problem:  # another camera's camera_info, or intrinsics that changed around this stamp
            self._masked(match.problem, f"not placing frame {decoded.stamp_ns / 1e9:.6f} s of "
                         f"'{decoded.input_frame_id}': {match.problem} (no camera_info of that frame_id, or its "
                         "intrinsics changed around that stamp): skeletons stay root-relative",
                         len(decoded.observations))
        lifter = self._lifter
        self._depth.keypoints_seen(decoded.stamp_ns)  # the reference of the depth stream's lag
        result = lifter.push(decoded.stamp_ns, decoded.observations, camera, decoded.admitted, arrival_ns)
        if result.status in RESETS:
            self.stats.reset_counted(result.status)
            self.get_logger().warning(f"input stamps jumped ({result.status}, confirmed by consecutive frames: bag "
                                      "loop or clock change): all track buffers reset",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        self._record(result, camera, received_at)
        if result.expired:
            self._markers.forget(result.expired)
            self._outputs["markers"].publish(messages.delete_markers(decoded.stamp_ns, self._tf.frames.frame_id(
                decoded.frame_id), result.expired, self._params.marker_velocity))
        if result.emissions:
            cameras = [self._camera.match(e.stamp_ns, decoded.input_frame_id).camera for e in result.emissions]
            self._enqueue(Job(result.emissions, decoded.frame_id, decoded.input_frame_id, cameras,
                              self._params.use_depth, received_at))

    def _record(self, result: PushResult, camera: Camera, now: float) -> None:
        """Counters, warnings and the stream-rate check for one accepted frame."""
        options = self._lifter.options.stream
        for reason, count in result.dropped.items():
            self._drop(Drop(reason, count, f"dropped {count} skeleton(s): {reason} (min_visible_joints="
                            f"{options.min_visible_joints}, max_tracks={options.max_tracks})"))
        for reason, count in result.masked.items():
            self.stats.mask(reason, count)
        self.stats.mask("missing_frames_masked", result.gap_frames)
        if result.mostly_outside:
            self.health.last_outside_at = now
            self.get_logger().warning(
                f"{result.mostly_outside} skeleton(s) have most joints outside the {camera.width}x{camera.height} "
                "image: do the keypoints and camera_info (or image_width/image_height) describe the same image?",
                throttle_duration_sec=LOG_THROTTLE_S)
        self.stats.active_tracks = len(self._lifter.track_ids)
        self.health.rate_problem = frame_rate_problem(self._lifter.measured_rate_hz(), self._lifter.config.fps)
        if self.health.rate_problem:
            self.get_logger().warning(self.health.rate_problem, throttle_duration_sec=LOG_THROTTLE_S)

    def _drop(self, drop: Drop) -> None:
        """Count a drop; warn at most once per LOG_THROTTLE_S per reason (a flood of one kind hides no other)."""
        self.stats.drop(drop.reason, drop.count)
        if drop.message:
            self._warn(drop.reason, drop.message)

    def _count(self, reason: str, message: str) -> None:
        self._drop(Drop(reason, 1, message))

    def _masked(self, reason: str, message: str, count: int = 1) -> None:
        """Count masked inputs; warn (unless `message` is empty) at most once per LOG_THROTTLE_S per reason."""
        self.stats.mask(reason, count)
        if message:
            self._warn(reason, message)

    def _enqueue(self, job: Job) -> None:
        queue_size = self._params.queue_size
        self.stats.frame_ready()
        dropped = self._worker.submit(job, queue_size)
        if dropped:
            self._drop(Drop("inference_queue_full", dropped, "inference is slower than the input: dropped the "
                            f"oldest waiting frame (queue_size={queue_size})"))

    # ---- inference (worker thread) --------------------------------------------------------------------
    def _inference_failed(self, exc: Exception) -> None:
        self.stats.drop("inference_error")
        self.get_logger().error(f"inference failed: {type(exc).__name__}: {clip(str(exc))}",
                                throttle_duration_sec=LOG_THROTTLE_S)

    def _run(self, job: Job) -> None:
        lifter = self._lifter
        if lifter is None:
            return
        # Depth is looked up after the inference, not when the keypoints arrived: an image published with its
        # keypoints (a large message, delivered later) still makes it; the input thread never waits for one.
        batch = lifter.lift(job.emissions, job.cameras, (lambda stamp_ns: self._depth_for(
            stamp_ns, job.input_frame_id)) if job.use_depth else None,
            self._tf.floor.source(job.input_frame_id, self._masked))  # ground_frame's floor (tf2, no wait)
        self.stats.inference_done(batch.inference_s)
        for reason, count in batch.counts.items():
            self.stats.mask(reason, count)
        markers = self._outputs["markers"]
        draw = markers.get_subscription_count() > 0  # no one looking: no marker work
        for lifted, camera in zip(batch.results, job.cameras):
            self._publish(lifted, job, camera, markers if draw else None)

    def _publish(self, lifted: Lifted, job: Job, camera: Camera, markers: Any) -> None:
        p = self._params
        self.stats.mask("root_fit_failed", int((~lifted.placed).sum()) if camera.intrinsics is not None
                        and p.lifter.stream.place_in_camera_frame else 0)
        out, drop = self._tf.frames.express(lifted, job.frame_id)  # target_frame; a failed tf2 lookup drops it
        if drop is not None:
            self._drop(drop)
            return
        points = messages.track_points(out.joints)
        self._outputs["skeletons3d"].publish(messages.skeleton3d_array(
            lifted.stamp_ns, out.frame_id, lifted.track_ids, points, lifted.confidence, lifted.mask,
            lifted.placement, out.orientations, out.root_velocity, out.root_covariance))
        # Latency is the skeletons' (the markers that follow are for the eyes: RViz)
        stamp_age_s = (self.get_clock().now().nanoseconds - lifted.stamp_ns) * 1e-9
        self.stats.output_published(time.monotonic() - job.received_at, stamp_age_s)
        if self._tf.broadcaster is not None:
            self._tf.broadcaster.send(lifted.stamp_ns, person_frames(out.frame_id, lifted.track_ids, out.joints,
                                                                     out.orientations, lifted.placed))
        if markers is not None:
            switched = self._markers.switched(lifted.track_ids, lifted.placed)
            drawn = messages.skeleton_markers(lifted.stamp_ns, out.frame_id, lifted.track_ids, points, lifted.mask,
                                              lifted.placement, switched, p.marker_scale, p.marker_lifetime, out.up)
            if p.marker_velocity:
                drawn.markers += messages.velocity_markers(lifted.stamp_ns, out.frame_id, lifted.track_ids, points,
                                                           out.root_velocity, p.marker_scale, p.marker_lifetime)
            markers.publish(drawn)

    # ---- diagnostics ----------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        lifter, camera = self._lifter, self._camera
        if lifter is None:
            return
        self.health.camera_info_missing = camera.missing
        self.health.depth_problem = self._depth.behind_problem() if self._params.use_depth else None
        report = lifter_report(self.stats, lifter, self._params.checkpoint, camera.info is not None, self.health,
                               UNTRAINED_WARNING)
        self._outputs["diagnostics"].publish(messages.diagnostic_report(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: pipeline", lifter.backend.name, report))


USAGE = """usage: python -m mpm_ros.lift_node [--ros-args --params-file config/lift.yaml] [-p NAME:=VALUE ...]

The mpm_lifter lifecycle node: Skeleton2DArray on `keypoints` (+ CameraInfo on `camera_info`) in,
Skeleton3DArray on `skeletons3d`, MarkerArray on `markers` and /diagnostics out. Parameters: docs/NODE.md.
SIGINT or SIGTERM at any time: clean shutdown, exit status 0."""


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM (exit 0); exit status 1 when autostart could not reach the active state."""
    return run_lifecycle_node(lambda args: LifterNode(argv=args, defer_autostart=True), USAGE, argv)


if __name__ == "__main__":
    sys.exit(main())
