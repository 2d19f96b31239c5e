"""mpm_lifter: lifecycle node lifting mpm_msgs/Skeleton2DArray to Skeleton3DArray + markers + diagnostics.

Thin glue around mpm_model.streaming.StreamingLifter: size check → decode (at most max_tracks skeletons) →
layouts → lifter.push() (callback thread) → bounded drop-oldest job queue → worker thread: lifter.lift() (ONE
backend.infer() for all tracks, batched placement) → message builders → publishers. The model's window,
causal/centred mode, look-ahead and rate come from the checkpoint. See docs/NODE.md.

    python -m mpm_ros.lift_node --ros-args --params-file config/lift.yaml
"""
from __future__ import annotations

import signal
import sys

if __name__ == "__main__":  # a signal during the slow imports below ends quietly: nothing to clean up yet
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, lambda *_: sys.exit(0))

import threading  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from mpm_msgs.msg import Skeleton2DArray, Skeleton3DArray  # noqa: E402
from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from mpm_model.checkpoint import list_pretrained  # noqa: E402
from mpm_model.streaming import Camera, Lifted, StreamingLifter  # noqa: E402
from mpm_model.streaming.camera import fallback_intrinsics, intrinsics_problem  # noqa: E402
from mpm_model.streaming.window_buffer import RESETS, Emission, Observation, PushResult  # noqa: E402
from mpm_ros import keypoints_wire, messages, params  # noqa: E402
from mpm_ros.backend_setup import UNTRAINED_WARNING, build_backend, model_mode, model_problem  # noqa: E402
from mpm_ros.diagnostics import PipelineStats, frame_rate_problem  # noqa: E402
from mpm_ros.input_adapters import KeypointInput, unavailable  # noqa: E402
from mpm_ros.inputs import MAX_FRAME_ID_CHARS, clip, frame_id_problem, max_message_bytes, select_skeletons  # noqa: E402
from mpm_ros.layouts import LayoutError, to_h36m17  # noqa: E402
from mpm_ros.node_main import ServingNode, run_lifecycle_node  # noqa: E402
from mpm_ros.params import stream_options  # noqa: E402

NODE_NAME = "mpm_lifter"
LOG_THROTTLE_S = 5.0
CAMERA_INFO_GRACE_S = 2.0  # keypoints may arrive before the first camera_info: warn only after this long
RECENT_S = 5.0  # a warning condition seen this recently keeps /diagnostics at WARN


@dataclass(frozen=True)
class Job:
    emissions: list[Emission]
    frame_id: str
    camera: Camera
    received_at: float  # time.monotonic() when the triggering input arrived


class LifterNode(ServingNode):
    """The lifecycle node; with autostart (default) it configures and activates itself in the constructor.

    `argv` (the process arguments, given by main) lets configure refuse `-p` overrides ROS drops silently.
    `defer_autostart` leaves the autostart transitions to `autostart()` (main calls it inside its signal guard).
    """

    def __init__(self, argv: list[str] | None = None, defer_autostart: bool = False, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._refused = params.declare_all(self) | params.command_line_problems(argv or [])
        ignored = sorted(name for name in self._parameter_overrides if not self.has_parameter(name))
        if ignored:  # a params file may be shared with other nodes: say so, but do not refuse
            self.get_logger().warning(f"ignoring parameters this node does not have: {clip(', '.join(ignored))}")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = PipelineStats()
        self._params: params.LifterParams | None = None
        self._lifter: StreamingLifter | None = None
        self._marker_placed: dict[int, bool] = {}  # worker: which namespace each track's markers are in
        self._backend_name = ""
        self._untrained = False
        self._camera_info: Camera | None = None
        self._first_input_at: float | None = None
        self._warned_no_camera_info = False
        self._last_outside_at = -float("inf")
        self._rate_problem: str | None = None
        self._warned_at: dict[str, float] = {}  # drop reason -> when it was last logged
        self._outputs = {}
        self._inputs = []
        self._adapter: KeypointInput | None = None
        self._diagnostics_timer = None
        self._jobs: deque[Job] = deque()
        self._jobs_changed = threading.Condition()
        self._stop_worker = False
        self._worker: threading.Thread | None = None
        if not defer_autostart:
            self.autostart()

    @property
    def backend_name(self) -> str:
        """The inference backend in use ("" before configure)."""
        return self._backend_name

    # ---- lifecycle transitions -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = params.read_all(self)
        errors = list(self._refused.values()) + params.validate(values, shipped=list_pretrained())
        if errors:
            return self._refuse("invalid parameters", errors)
        p = params.to_params(values)
        missing = None if p.input_format == "mpm" else unavailable(p.input_format)
        if missing:
            return self._refuse("input_format unavailable", [missing])
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
        cfg = backend.config
        self._params, self._untrained, self._backend_name = p, untrained, backend.name
        self._lifter = StreamingLifter(backend, stream_options(p))
        output_qos = QoSProfile(depth=p.output_qos_depth, reliability=ReliabilityPolicy.RELIABLE,
                                history=HistoryPolicy.KEEP_LAST)
        self._outputs = {
            "skeletons3d": self.create_lifecycle_publisher(Skeleton3DArray, "skeletons3d", output_qos),
            "markers": self.create_lifecycle_publisher(MarkerArray, "markers", output_qos),
            "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", output_qos),
        }
        self.get_logger().info(
            f"configured: backend {backend.name} on {backend.device} ({backend.selection_reason}); from the "
            f"checkpoint: window {cfg.window}, {model_mode(cfg)}, {cfg.fps:g} fps, output delay "
            f"{self._lifter.delay_frames} frame(s)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._params
        input_qos = QoSProfile(depth=p.input_qos_depth, reliability=qos_profile_sensor_data.reliability,
                               durability=qos_profile_sensor_data.durability, history=HistoryPolicy.KEEP_LAST)
        self._inputs = [self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, input_qos)]
        if p.input_format == "mpm":  # raw: the size is checked before anything is deserialised
            self._inputs.append(
                self.create_subscription(Skeleton2DArray, "keypoints", self._on_keypoints, input_qos, raw=True))
        else:  # yolo_ros / ros4hri messages, adapted to Skeleton2DArray (mpm_ros.input_adapters)
            self._adapter = KeypointInput(self, p.input_format, self._on_adapted, input_qos, self._image_size,
                                          self.stats.drop)
        self._stop_worker = False
        self._worker = threading.Thread(target=self._work, name="mpm_lifter_inference", daemon=True)
        self._worker.start()
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        return super().on_activate(state)

    def _stop_serving(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._adapter is not None:
            self._adapter.destroy()
            self._adapter = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        self.stop_worker()

    def stop_worker(self) -> None:
        """Stop the inference thread and wait for it: after this returns nothing publishes from it."""
        if self._worker is not None:
            with self._jobs_changed:
                self._stop_worker = True
                self._jobs.clear()
                self._jobs_changed.notify_all()
            self._worker.join(timeout=10.0)
            self._worker = None

    def destroy_node(self) -> None:
        """Also ends the inference thread: a destroyed node leaves no thread behind holding it (and its DDS
        participant) alive."""
        self.stop_worker()
        super().destroy_node()

    def _release(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        self._lifter = self._params = None
        self._camera_info = None
        self._first_input_at = None
        self._warned_no_camera_info = False

    # ---- runtime parameter changes (executor thread) ----------------------------------------------------
    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """Refuse what configure would refuse; apply live parameters at once; structural ones need a reconfigure."""
        names = [change.name for change in changes]
        current = params.read_all(self)
        values = current | {change.name: change.value for change in changes if change.name in params.SPECS}
        shipped = list_pretrained()
        known = set(params.validate(current, shipped=shipped))
        errors = [e for e in params.validate(values, shipped=shipped) if e not in known]
        if errors:
            return SetParametersResult(successful=False, reason="; ".join(errors))
        structural = params.needs_reconfigure(names) if self._params is not None else []
        if structural:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(structural)}: only applied at configure, read-only while the node is "
                f"{self.lifecycle_state}; deactivate and clean up, set it, then configure again"))
        for name in names:  # a corrected start-up override no longer blocks configure
            self._refused.pop(name, None)
        if self._params is not None:
            self._apply_live(values)
        return SetParametersResult(successful=True)

    def _apply_live(self, values: dict) -> None:
        self._params = params.to_params(values)
        self._lifter.set_options(stream_options(self._params))

    # ---- input (executor thread) ----------------------------------------------------------------------
    def _on_camera_info(self, msg: CameraInfo) -> None:
        problem = intrinsics_problem(msg.width, msg.height, msg.k)
        if problem:
            self._count("invalid_camera_info", f"ignoring camera_info ({problem}); skeletons stay root-relative "
                        "until a valid one arrives")
            return
        self._camera_info = Camera(int(msg.width), int(msg.height), np.asarray(msg.k, np.float64).reshape(3, 3))

    def _current_camera(self, now: float) -> Camera:
        if self._camera_info is not None:
            return self._camera_info
        p = self._params
        if now - self._first_input_at >= CAMERA_INFO_GRACE_S and not self._warned_no_camera_info:
            self._warned_no_camera_info = True
            self.get_logger().warning(
                f"no valid CameraInfo on '{self.resolve_topic_name('camera_info')}' after {CAMERA_INFO_GRACE_S} s "
                f"of keypoints: using image_width={p.image_width}, image_height={p.image_height}, focal_length="
                f"{p.focal_length} "
                + ("(outputs root-relative)" if p.focal_length <= 0 else "(principal point at the image centre)"))
        return Camera(p.image_width, p.image_height,
                      fallback_intrinsics(p.image_width, p.image_height, p.focal_length))

    def _on_keypoints(self, data: bytes) -> None:
        self._guarded(self._decode_raw, data)

    def _on_adapted(self, msg: Skeleton2DArray) -> None:
        self._guarded(lambda m, received_at: self._handle_keypoints(keypoints_wire.from_message(m), received_at), msg)

    def _image_size(self) -> tuple[int, int]:
        """(width, height) for normalised adapter inputs (ros4hri): camera_info's, else the parameters'."""
        camera = self._current_camera(time.monotonic())
        return camera.width, camera.height

    def _decode_raw(self, data: bytes, received_at: float) -> None:
        limit = max_message_bytes(self._params.max_tracks)
        if len(data) > limit:
            self._count("oversized_message", f"dropping a {len(data)}-byte keypoints message (limit {limit} "
                        f"bytes for max_tracks={self._params.max_tracks})")
            return
        try:
            frame = keypoints_wire.read_skeleton2d_array(data)
        except keypoints_wire.WireError as exc:
            self._count("malformed_message", f"dropping a malformed keypoints message: {clip(str(exc))}")
            return
        if frame is None:  # an encapsulation the numpy reader does not know: rclpy decodes it
            frame = keypoints_wire.from_message(deserialize_message(data, Skeleton2DArray))
        self._handle_keypoints(frame, received_at)

    def _guarded(self, handle, payload) -> None:
        """Run an input callback: it must never raise (count, log, keep serving)."""
        received_at = time.monotonic()
        try:
            self.stats.input_received(received_at)
            if self._lifter is None:
                return
            handle(payload, received_at)
        except Exception as exc:
            self.stats.drop("internal_error")
            self.get_logger().error(f"dropping a frame after an internal error: {type(exc).__name__}: "
                                    f"{clip(str(exc))}", throttle_duration_sec=LOG_THROTTLE_S)

    def _handle_keypoints(self, msg: keypoints_wire.WireFrame, received_at: float) -> None:
        lifter, p = self._lifter, self._params
        if self._first_input_at is None:
            self._first_input_at = received_at
        frame_id = p.output_frame_id or msg.frame_id
        problem = frame_id_problem(frame_id)
        if problem:
            self._count("invalid_frame_id", f"dropping a frame: {problem} (max {MAX_FRAME_ID_CHARS} printable "
                        "characters; or set output_frame_id)")
            return
        stamp_ns = msg.stamp_ns
        admitted = lifter.admit(stamp_ns, int(received_at * 1e9))  # before decoding: a refused frame costs nothing
        if admitted not in ("ok",) + RESETS:
            self._count(admitted, f"dropping frame with stamp {stamp_ns / 1e9:.6f} s: {admitted}")
            return
        camera = self._current_camera(received_at)
        if not msg.skeletons:
            self.stats.drop("empty_message")
        live = set() if admitted in RESETS else set(lifter.track_ids)  # a reset frees every slot
        selection = select_skeletons(msg.skeletons, live, p.max_tracks)
        for reason, count in selection.dropped.items():
            self._count(reason, f"dropped {count} skeleton(s): {reason} (max_tracks={p.max_tracks})", count)
        observations: dict[int, Observation] = {}
        for skeleton in selection.kept:
            try:
                pixels, confidence = to_h36m17(skeleton.layout, skeleton.keypoints[:, :2], skeleton.keypoints[:, 2])
            except LayoutError as exc:
                self._count(exc.reason, f"dropping track {skeleton.track_id}: {exc.reason} (layout "
                            f"{clip(skeleton.layout, 32)!r}, {len(skeleton.keypoints)} keypoints)")
                continue
            observations[skeleton.track_id] = Observation(pixels, confidence)
        result = lifter.push(stamp_ns, observations, camera, admitted, int(received_at * 1e9))
        if result.status in RESETS:
            self.stats.reset_counted(result.status)
            self.get_logger().warning(f"input stamps jumped ({result.status}, confirmed by consecutive frames: bag "
                                      "loop or clock change): all track buffers reset",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        self._record(result, camera, received_at)
        if result.expired:
            for track_id in result.expired:
                self._marker_placed.pop(track_id, None)
            self._outputs["markers"].publish(messages.delete_markers(stamp_ns, frame_id, result.expired))
        if result.emissions:
            self._enqueue(Job(result.emissions, frame_id, camera, received_at))

    def _record(self, result: PushResult, camera: Camera, now: float) -> None:
        """Counters, warnings and the stream-rate check for one accepted frame."""
        for reason, count in result.dropped.items():
            self._count(reason, f"dropped {count} skeleton(s): {reason} (min_visible_joints="
                        f"{self._params.min_visible_joints}, max_tracks={self._params.max_tracks})", count)
        for reason, count in result.masked.items():
            self.stats.mask(reason, count)
        self.stats.mask("missing_frames_masked", result.gap_frames)
        if result.mostly_outside:
            self._last_outside_at = now
            self.get_logger().warning(
                f"{result.mostly_outside} skeleton(s) have most joints outside the {camera.width}x{camera.height} "
                "image: do the keypoints and camera_info (or image_width/image_height) describe the same image?",
                throttle_duration_sec=LOG_THROTTLE_S)
        self.stats.active_tracks = len(self._lifter.track_ids)
        self._rate_problem = frame_rate_problem(self._lifter.measured_rate_hz(), self._lifter.config.fps)
        if self._rate_problem:
            self.get_logger().warning(self._rate_problem, throttle_duration_sec=LOG_THROTTLE_S)

    def _count(self, reason: str, message: str, count: int = 1) -> None:
        """Count a drop; warn at most once per LOG_THROTTLE_S per reason (a flood of one kind hides no other)."""
        self.stats.drop(reason, count)
        now = time.monotonic()
        if now - self._warned_at.get(reason, -LOG_THROTTLE_S) >= LOG_THROTTLE_S:
            self._warned_at[reason] = now
            self.get_logger().warning(message)

    def _enqueue(self, job: Job) -> None:
        with self._jobs_changed:
            while len(self._jobs) >= self._params.queue_size:
                self._jobs.popleft()
                self._count("inference_queue_full", f"inference is slower than the input: dropped the oldest "
                            f"waiting frame (queue_size={self._params.queue_size})")
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
                self.get_logger().error(f"inference failed: {type(exc).__name__}: {clip(str(exc))}",
                                        throttle_duration_sec=LOG_THROTTLE_S)

    def _run(self, job: Job) -> None:
        lifter = self._lifter
        if lifter is None:
            return
        batch = lifter.lift(job.emissions, job.camera)
        self.stats.inference_done(batch.inference_s)
        markers = self._outputs["markers"]
        draw = markers.get_subscription_count() > 0  # no one looking: no marker work
        for lifted in batch.results:
            self._publish(lifted, job, markers if draw else None)

    def _publish(self, lifted: Lifted, job: Job, markers) -> None:
        p = self._params
        self.stats.mask("root_fit_failed", int((~lifted.placed).sum()) if job.camera.intrinsics is not None
                        and p.place_in_camera_frame else 0)
        points = messages.track_points(lifted.joints)
        self._outputs["skeletons3d"].publish(messages.skeleton3d_array(
            lifted.stamp_ns, job.frame_id, lifted.track_ids, points, lifted.confidence, lifted.mask, lifted.placed))
        # Latency is the skeletons' (the markers that follow are for the eyes: RViz)
        stamp_age_s = (self.get_clock().now().nanoseconds - lifted.stamp_ns) * 1e-9
        self.stats.output_published(time.monotonic() - job.received_at, stamp_age_s)
        if markers is not None:
            shown = self._marker_placed  # track -> placed state its markers were last drawn in
            switched = np.array([shown.get(t) is not bool(ok) for t, ok in zip(lifted.track_ids, lifted.placed)])
            shown.update(zip(lifted.track_ids, lifted.placed.tolist()))
            markers.publish(messages.skeleton_markers(lifted.stamp_ns, job.frame_id, lifted.track_ids, points,
                                                      lifted.mask, lifted.placed, switched, p.marker_scale,
                                                      p.marker_lifetime))

    # ---- diagnostics ----------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        lifter, p = self._lifter, self._params
        if lifter is None:
            return
        backend, cfg, now = lifter.backend, lifter.config, time.monotonic()
        camera = "camera_info" if self._camera_info is not None else "parameter fallback (no camera_info yet)"
        measured = lifter.measured_rate_hz()
        snapshot = self.stats.snapshot(extra={
            "backend": backend.name, "device": str(backend.device), "backend_selection": backend.selection_reason,
            "checkpoint": p.checkpoint or "(untrained random init)", "window": str(cfg.window),
            "mode": model_mode(cfg), "output_delay_frames": str(lifter.delay_frames), "camera": camera,
            "input_stamp_rate_hz": "unknown" if measured is None else f"{measured:.2f}",
            "model_fps": f"{cfg.fps:g}",
        })
        problems = [UNTRAINED_WARNING] if self._untrained else []
        if self._warned_no_camera_info and self._camera_info is None:
            problems.append("no camera_info received")
        if now - self._last_outside_at < RECENT_S:
            problems.append("most joints of some skeletons fall outside the image")
        if self._rate_problem:
            problems.append(self._rate_problem)
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        summary = "; ".join(problems) or f"{snapshot.output_rate_hz:.1f} Hz out, {snapshot.active_tracks} track(s)"
        self._outputs["diagnostics"].publish(messages.diagnostic_array(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: pipeline", backend.name, level, summary,
            snapshot.as_key_values()))


USAGE = """usage: python -m mpm_ros.lift_node [--ros-args --params-file config/lift.yaml] [-p NAME:=VALUE ...]

The mpm_lifter lifecycle node: Skeleton2DArray on `keypoints` (+ CameraInfo on `camera_info`) in,
Skeleton3DArray on `skeletons3d`, MarkerArray on `markers` and /diagnostics out. Parameters: docs/NODE.md.
SIGINT or SIGTERM at any time: clean shutdown, exit status 0."""


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM (exit 0); exit status 1 when autostart could not reach the active state."""
    return run_lifecycle_node(lambda args: LifterNode(argv=args, defer_autostart=True), USAGE, argv)


if __name__ == "__main__":
    sys.exit(main())
