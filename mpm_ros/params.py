"""The mpm_lifter node's parameters: ONE table, declared and validated by the generic rules of
mpm_ros.param_table, read into ONE record (`LifterParams`) whose parts go, whole, to where they are used.

The streaming lifter's options (LifterOptions: stream, depth, smoothing, temporal state) and the fallback camera
(FallbackCamera) are declared on their own records (default, range, description) and their specs are made from
those fields; the rest are the node's own. Torch-free:
the launch files read their defaults from `SPECS`. `live` parameters apply while the node runs; the rest need a
reconfigure (cleanup → set → configure) and are refused while the node is configured.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpm_model.deploy.backends.names import BACKEND_NAMES, PRECISIONS, precision_problem
from mpm_model.streaming import LifterOptions, StreamOptions
from mpm_model.streaming.depth import DepthOptions
from mpm_model.streaming.frames import FrameOptions
from mpm_model.streaming.depth_history import DepthMatching
from mpm_model.streaming.smoothing import SmoothingOptions
from mpm_model.streaming.temporal import TemporalOptions
from mpm_ros.camera_source import FallbackCamera
from mpm_ros.inputs import frame_id_problem
from mpm_ros.param_table import AUTOSTART, ParamSpec, ParamTable, specs_from

DEFAULT_CHECKPOINT = "mpm_t27_causal"  # real-mocap weights, CC BY-NC 4.0 (docs/MODEL_CARD.md)
_STREAM = {s.name: s for s in specs_from(StreamOptions, live=True, configure_only=("max_tracks",))}

TABLE = ParamTable((
    ParamSpec("checkpoint", DEFAULT_CHECKPOINT, "Shipped weights name (mpm_model.checkpoint.list_pretrained) or a "
              ".pt path; the model's window, causal/centred mode, look-ahead and rate come from it; empty = randomly "
              "initialised default model (untrained — outputs are not meaningful)"),
    ParamSpec("backend", "auto", "Inference backend; auto = TensorRT > ONNX Runtime CUDA > ONNX Runtime CPU > torch",
              choices=BACKEND_NAMES),
    ParamSpec("device", "", "Device for the backend, e.g. cpu, cuda, cuda:0; empty = best available"),
    ParamSpec("engine_dir", "", "Cache directory for exported ONNX files and TensorRT engines; "
              "empty = $ROS_HOME/mpm_ros/engines (~/.ros/mpm_ros/engines)"),
    ParamSpec("precision", "fp32", "Inference precision (onnxruntime runs fp32 only)", choices=PRECISIONS),
    ParamSpec("ort_threads", 0, "ONNX Runtime intra-op threads; 0 = its default (one per core)", 0, 256),
    ParamSpec("ort_spinning", False, "Let ONNX Runtime's idle threads spin: a little faster alone, but they take "
              "cores from the node's own threads (measured: 2x slower batches under load on 2 cores)"),
    _STREAM["min_confidence"], _STREAM["min_visible_joints"], _STREAM["track_timeout"], _STREAM["max_tracks"],
    ParamSpec("input_qos_depth", 5, "Depth of the best-effort (sensor data) input subscriptions", 1, 1000),
    ParamSpec("output_qos_depth", 10, "Depth of the reliable output publishers", 1, 1000),
    ParamSpec("queue_size", 2, "Inference jobs waiting for the worker; when full the oldest is dropped (counted)",
              1, 100, live=True),
    _STREAM["frame_rate"],
    ParamSpec("output_frame_id", "", "frame_id of the outputs; empty = header.frame_id of the input", live=True),
    _STREAM["place_in_camera_frame"], _STREAM["mirror_max_tracks"], _STREAM["gap_fill_frames"],
    ParamSpec("marker_scale", 0.05, "Joint sphere diameter in metres (bone width = half)", 0.001, 1.0, live=True),
    ParamSpec("marker_velocity", False, "Draw each track's root velocity as an ARROW (namespace "
              "track_<id>/velocity, 0.5 s of motion long); off by default: from 2D fits alone the velocity is noisy "
              "(docs/TEMPORAL.md)", live=True),
    ParamSpec("marker_lifetime", 0.5, "Marker lifetime in seconds; 0 = until replaced or deleted", 0.0, 3600.0,
              live=True),
    *specs_from(FallbackCamera, live=True),
    ParamSpec("use_depth", False, "Subscribe to `depth` (aligned sensor_msgs/Image, 16UC1 mm or 32FC1 m) and use "
              "it to place skeletons (docs/PLACEMENT.md)"),
    ParamSpec("depth_reliable", False, "Subscribe to `depth` reliably, so that images lost in transport are sent "
              "again (a 600 KB image is many UDP fragments: on a loaded machine best effort lost half of them, "
              "docs/NODE.md); the depth publisher must then be reliable, else no image arrives (counted "
              "depth.incompatible_qos, warned)"),
    *specs_from(DepthMatching, live=True),
    *specs_from(DepthOptions, live=True),
    *specs_from(SmoothingOptions, live=True),
    *specs_from(FrameOptions, live=True, configure_only=("tf_lookup", "publish_tf", "ground_frame")),
    *specs_from(TemporalOptions, live=True),
    AUTOSTART,
))
PARAMS: tuple[ParamSpec, ...] = TABLE.specs
SPECS: dict[str, ParamSpec] = TABLE.by_name


@dataclass(frozen=True)
class LifterParams:
    """Every lifter parameter; `lifter` goes whole to StreamingLifter, `fallback` to the CameraSource, `frames` to
    the node's OutputFrames (mpm_ros.tf_output), `depth_matching` to the DepthHistory."""

    lifter: LifterOptions
    fallback: FallbackCamera
    frames: FrameOptions
    use_depth: bool
    depth_reliable: bool
    depth_matching: DepthMatching
    checkpoint: str
    backend: str
    device: str
    engine_dir: str
    precision: str
    ort_threads: int
    ort_spinning: bool
    input_qos_depth: int
    output_qos_depth: int
    queue_size: int
    output_frame_id: str
    marker_scale: float
    marker_velocity: bool
    marker_lifetime: float
    autostart: bool


def validate(values: dict[str, Any], shipped: list[str] | None = None) -> list[str]:
    """Every problem with a full set of parameter values, as readable sentences (empty list = valid).

    `shipped` is the list of shipped checkpoint names (None: skip the checkpoint existence check).
    """
    errors = TABLE.validate(values)
    if errors:
        return errors
    checkpoint = values["checkpoint"]
    if checkpoint and shipped is not None and not Path(checkpoint).is_file() and checkpoint not in shipped:
        errors.append(f"checkpoint={checkpoint!r} is neither an existing file nor a shipped name "
                      f"(shipped: {shipped or 'none'})")
    backend_problem = precision_problem(values["backend"], values["precision"])
    if backend_problem:
        errors.append(backend_problem)
    frame_problem = frame_id_problem(values["output_frame_id"])
    if frame_problem:
        errors.append(f"output_frame_id: {frame_problem}")
    for record in (FallbackCamera, FrameOptions):
        problem = TABLE.build(record, values).problem()
        if problem:
            errors.append(problem)
    return errors


def to_params(values: dict[str, Any]) -> LifterParams:
    """The record from already validated values."""
    return TABLE.build(LifterParams, values)
