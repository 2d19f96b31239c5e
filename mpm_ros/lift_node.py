"""mpm_lifter: lifecycle node lifting mpm_msgs/Skeleton2DArray to Skeleton3DArray + markers + diagnostics.

Thin glue: layouts → WindowBuffer (callback thread) → bounded drop-oldest job queue → worker thread running
ONE backend.infer() per input message → placement → message builders → publishers. See docs/NODE.md.

    python -m mpm_ros.lift_node --ros-args --params-file config/lift.yaml
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import MarkerArray

from mpm_model.checkpoint import list_pretrained
from mpm_ros import messages, params
from mpm_ros.backend_setup import UNTRAINED_WARNING, build_backend, model_mismatch
from mpm_ros.diagnostics import PipelineStats
from mpm_ros.layouts import LayoutError, decode_keypoints
from mpm_ros.placement import place_batch
from mpm_ros.window_buffer import BufferConfig, Emission, Observation, WindowBuffer

NODE_NAME = "mpm_lifter"
LOG_THROTTLE_S = 5.0


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    intrinsics: np.ndarray | None  # (3, 3) K, None = unknown (outputs stay root-relative)


@dataclass(frozen=True)
class Job:
    emissions: list[Emission]
    frame_id: str
    camera: Camera
    received_at: float  # time.monotonic() when the triggering input arrived


class LifterNode(LifecycleNode):
    """The lifecycle node; with autostart (default) it configures and activates itself in the constructor."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._refused = params.declare_all(self)
        self.stats = PipelineStats()
        self._params: params.LifterParams | None = None
        self._backend = None
        self._untrained = False
        self._buffer: WindowBuffer | None = None
        self._camera_info: Camera | None = None
        self._warned_no_camera_info = False
        self._outputs = {}
        self._inputs = []
        self._diagnostics_timer = None
        self._jobs: deque[Job] = deque()
        self._jobs_changed = threading.Condition()
        self._stop_worker = False
        self._worker: threading.Thread | None = None
        if self.get_parameter("autostart").value and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    @property
    def lifecycle_state(self) -> str:
        return self._state_machine.current_state[1]

    # ---- lifecycle transitions -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = params.read_all(self)
        errors = list(self._refused.values()) + params.validate(values, shipped=list_pretrained())
        if errors:
            return self._refuse("invalid parameters", errors)
        p = params.to_params(values)
        try:
            backend, untrained = build_backend(p)
        except Exception as exc:  # any backend failure must refuse the transition, not kill the node
            return self._refuse("cannot create the inference backend", [f"{type(exc).__name__}: {exc}"])
        mismatch = model_mismatch(p, backend.config)
        if mismatch:
            return self._refuse(f"model {p.checkpoint or '(untrained)'} does not match the parameters", mismatch)
        if untrained:
            self.get_logger().warning("!" * 20 + " " + UNTRAINED_WARNING + " " + "!" * 20)
        cfg = backend.config
        self._params, self._backend, self._untrained = p, backend, untrained
        self._buffer = WindowBuffer(BufferConfig(
            window=cfg.window, target_index=cfg.target_index, num_joints=cfg.num_joints,
            min_confidence=p.min_confidence, track_timeout=p.track_timeout, max_tracks=p.max_tracks,
            frame_rate=p.frame_rate))
        output_qos = QoSProfile(depth=p.output_qos_depth, reliability=ReliabilityPolicy.RELIABLE,
                                history=HistoryPolicy.KEEP_LAST)
        self._outputs = {
            "skeletons3d": self.create_lifecycle_publisher(Skeleton3DArray, "skeletons3d", output_qos),
            "markers": self.create_lifecycle_publisher(MarkerArray, "markers", output_qos),
            "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", output_qos),
        }
        self.get_logger().info(
            f"configured: backend {backend.name} on {backend.device} ({backend.selection_reason}); window "
            f"{cfg.window}, {'causal' if cfg.causal else 'centred'}, output delay "
            f"{self._buffer.config.delay_frames} frame(s)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._params
        input_qos = QoSProfile(depth=p.input_qos_depth, reliability=qos_profile_sensor_data.reliability,
                               durability=qos_profile_sensor_data.durability, history=HistoryPolicy.KEEP_LAST)
        self._inputs = [
            self.create_subscription(Skeleton2DArray, "keypoints", self._on_keypoints, input_qos),
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, input_qos),
        ]
        self._stop_worker = False
        self._worker = threading.Thread(target=self._work, name="mpm_lifter_inference", daemon=True)
        self._worker.start()
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving()
        self._release()
        return super().on_shutdown(state)

    def _refuse(self, what: str, reasons: list[str]) -> TransitionCallbackReturn:
        self.get_logger().error(f"configure refused — {what}:\n  " + "\n  ".join(reasons))
        return TransitionCallbackReturn.FAILURE

    def _stop_serving(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        self.stop_worker()

    def stop_worker(self) -> None:
        """Stop the inference thread (no ROS calls: safe after the context was shut down by Ctrl-C)."""
        if self._worker is not None:
            with self._jobs_changed:
                self._stop_worker = True
                self._jobs.clear()
                self._jobs_changed.notify_all()
            self._worker.join(timeout=10.0)
            self._worker = None

    def _release(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        self._backend = self._buffer = self._params = None
        self._camera_info = None
        self._warned_no_camera_info = False

    # ---- input (executor thread) ----------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        k = np.asarray(msg.k, np.float64).reshape(3, 3)
        if msg.width <= 0 or msg.height <= 0 or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            self.stats.drop("invalid_camera_info")
            self.get_logger().warning(f"ignoring camera_info with size {msg.width}x{msg.height} and K {list(msg.k)}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        self._camera_info = Camera(int(msg.width), int(msg.height), k)

    def _current_camera(self) -> Camera:
        if self._camera_info is not None:
            return self._camera_info
        p = self._params
        if not self._warned_no_camera_info:
            self._warned_no_camera_info = True
            self.get_logger().warning(
                f"no CameraInfo received on '{self.resolve_topic_name('camera_info')}': using image_width="
                f"{p.image_width}, image_height={p.image_height}, focal_length={p.focal_length} "
                + ("(outputs root-relative)" if p.focal_length <= 0 else "(principal point at the image centre)"))
        intrinsics = None
        if p.focal_length > 0:
            intrinsics = np.array([[p.focal_length, 0, p.image_width / 2], [0, p.focal_length, p.image_height / 2],
                                   [0, 0, 1]], np.float64)
        return Camera(p.image_width, p.image_height, intrinsics)

    def _on_keypoints(self, msg: Skeleton2DArray) -> None:
        try:
            self._handle_keypoints(msg, time.monotonic())
        except Exception as exc:  # a callback must never raise: count, log, keep serving
            self.stats.drop("internal_error")
            self.get_logger().error(f"dropping a frame after an internal error: {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=LOG_THROTTLE_S)

    def _handle_keypoints(self, msg: Skeleton2DArray, received_at: float) -> None:
        self.stats.input_received(received_at)
        buffer, p = self._buffer, self._params
        if buffer is None:
            return
        camera = self._current_camera()
        frame_id = p.output_frame_id or msg.header.frame_id
        observations: dict[int, Observation] = {}
        if not msg.skeletons:
            self.stats.drop("empty_message")
        for skeleton in msg.skeletons:
            if skeleton.track_id in observations:
                self._count("duplicate_track_id", f"track {skeleton.track_id} appears twice; keeping the first")
                continue
            try:
                pixels, confidence = decode_keypoints(skeleton.layout, skeleton.keypoints)
            except LayoutError as exc:
                self._count(exc.reason, f"dropping track {skeleton.track_id}: {exc}")
                continue
            if not (np.isfinite(pixels).all() and np.isfinite(confidence).all()):
                self._count("non_finite_keypoints", f"track {skeleton.track_id} has NaN/inf keypoints (masked)")
            observations[skeleton.track_id] = Observation(pixels, confidence)
        stamp_ns = messages.ns_from_time(msg.header.stamp)
        result = buffer.push(stamp_ns, observations, camera.width, camera.height)
        if not result.accepted:
            self._count(result.status, f"dropping frame with stamp {stamp_ns / 1e9:.6f} s: {result.status}")
            return
        if result.status == "reset":
            self.stats.reset_counted()
            self._count("stamp_jump_back", "input stamps jumped back (bag loop?): all track buffers reset")
        for reason, count in result.dropped.items():
            self._count(reason, f"dropped {count} skeleton(s): {reason} (max_tracks={p.max_tracks})", count)
        self.stats.drop("missing_frames_masked", result.gap_frames)
        self.stats.active_tracks = len(buffer.track_ids)
        if result.expired:
            self._outputs["markers"].publish(messages.delete_markers(stamp_ns, frame_id, result.expired))
        if result.emissions:
            self._enqueue(Job(result.emissions, frame_id, camera, received_at))

    def _count(self, reason: str, message: str, count: int = 1) -> None:
        self.stats.drop(reason, count)
        self.get_logger().warning(message, throttle_duration_sec=LOG_THROTTLE_S)

    def _enqueue(self, job: Job) -> None:
        with self._jobs_changed:
            while len(self._jobs) >= self._params.queue_size:
                self._jobs.popleft()
                self.stats.drop("inference_queue_full")
            self._jobs.append(job)
            self._jobs_changed.notify()

    # ---- inference (worker thread) --------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._jobs_changed:
                while not self._jobs and not self._stop_worker:
                    self._jobs_changed.wait()
                if self._stop_worker:
                    return
                job = self._jobs.popleft()
            try:
                self._run(job)
            except Exception as exc:  # keep the worker alive: one failed batch is one dropped frame
                self.stats.drop("inference_error")
                self.get_logger().error(f"inference failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=LOG_THROTTLE_S)

    def _run(self, job: Job) -> None:
        backend, p = self._backend, self._params
        if backend is None:
            return
        keypoints = np.concatenate([e.keypoints for e in job.emissions])  # (B, T, J, 2)
        mask = np.concatenate([e.mask for e in job.emissions])  # (B, T, J)
        started = time.monotonic()
        pose3d = backend.infer(keypoints, mask)[:, 0]  # (B, J, 3) root-relative metres
        self.stats.inference_done(time.monotonic() - started)
        start = 0
        for emission in job.emissions:
            joints = pose3d[start:start + len(emission.track_ids)]  # (b, J, 3)
            start += len(emission.track_ids)
            if p.place_in_camera_frame and job.camera.intrinsics is not None:
                joints, _ = place_batch(joints, emission.target_pixels, emission.target_confidence,
                                        job.camera.intrinsics)
            self._outputs["skeletons3d"].publish(messages.skeleton3d_array(
                emission.stamp_ns, job.frame_id, emission.track_ids, joints, emission.target_confidence,
                emission.target_mask))
            self._outputs["markers"].publish(messages.skeleton_markers(
                emission.stamp_ns, job.frame_id, emission.track_ids, joints, emission.target_mask,
                p.marker_scale, p.marker_lifetime))
            stamp_age_s = (self.get_clock().now().nanoseconds - emission.stamp_ns) * 1e-9
            self.stats.output_published(time.monotonic() - job.received_at, stamp_age_s)

    # ---- diagnostics ----------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        backend, p = self._backend, self._params
        if backend is None:
            return
        cfg = backend.config
        camera = "camera_info" if self._camera_info is not None else "parameter fallback (no camera_info yet)"
        snapshot = self.stats.snapshot(extra={
            "backend": backend.name, "device": str(backend.device), "backend_selection": backend.selection_reason,
            "checkpoint": p.checkpoint or "(untrained random init)", "window": str(cfg.window),
            "mode": f"causal, lookahead {cfg.lookahead}" if cfg.causal else "centred",
            "output_delay_frames": str(self._buffer.config.delay_frames), "camera": camera,
        })
        problems = [UNTRAINED_WARNING] if self._untrained else []
        if self._camera_info is None:
            problems.append("no camera_info received")
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        summary = "; ".join(problems) or f"{snapshot.output_rate_hz:.1f} Hz out, {snapshot.active_tracks} track(s)"
        self._outputs["diagnostics"].publish(messages.diagnostic_array(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: pipeline", backend.name, level, summary,
            snapshot.as_key_values()))


USAGE = """usage: python -m mpm_ros.lift_node [--ros-args --params-file config/lift.yaml] [-p NAME:=VALUE ...]

The mpm_lifter lifecycle node: Skeleton2DArray on `keypoints` (+ CameraInfo on `camera_info`) in,
Skeleton3DArray on `skeletons3d`, MarkerArray on `markers` and /diagnostics out. Parameters: docs/NODE.md."""


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C; exit status 1 when autostart could not reach the active state."""
    args = sys.argv if argv is None else argv
    own_args = args[1:args.index("--ros-args")] if "--ros-args" in args else args[1:]
    if "-h" in own_args or "--help" in own_args:
        print(USAGE)
        return 0
    rclpy.init(args=args)
    node = LifterNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    status = 0
    try:
        if node.get_parameter("autostart").value and node.lifecycle_state != "active":
            node.get_logger().fatal(f"autostart failed: node is '{node.lifecycle_state}' (see the errors above)")
            status = 1
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
