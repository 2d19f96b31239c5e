"""The node's parameters: ONE table (name, default, description, range, choices), declared and validated from it.

`validate()` is ROS-free so every rule is unit-testable; `declare_all()` turns the table into ROS declarations
with ParameterDescriptors, and records (instead of raising) overrides that ROS itself rejects, so the
configure transition can fail with a clear message rather than the process dying at start-up.
`command_line_problems()` catches the `-p` overrides ROS drops without a word (unknown names, and a wrong type
when a params file sets the same name). `live` parameters apply while the node runs; the rest need a
reconfigure (cleanup → set → configure) and are refused while the node is configured.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mpm_model.deploy.backends.names import BACKEND_NAMES, PRECISIONS, precision_problem
from mpm_model.streaming import StreamOptions
from mpm_model.streaming.camera import fallback_intrinsics, intrinsics_problem
from mpm_ros.inputs import clip, frame_id_problem

DEFAULT_CHECKPOINT = "mpm_t27_causal"  # real-mocap weights, CC BY-NC 4.0 (docs/MODEL_CARD.md)
INPUT_SOURCES = ("mpm", "yolo_ros", "ros4hri")  # mpm_ros.input_adapters.INPUT_FORMATS adapt the last two


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    low: float | None = None  # inclusive range for int/float parameters
    high: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    live: bool = False  # applied at once when set on a configured node (else: needs a reconfigure)


PARAMS: tuple[ParamSpec, ...] = (
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
    ParamSpec("input_format", "mpm", "2D source: mpm (mpm_msgs/Skeleton2DArray on `keypoints`), yolo_ros "
              "(yolo_msgs/DetectionArray on `detections`) or ros4hri (REP-155 hri_msgs bodies under /humans/bodies)",
              choices=INPUT_SOURCES),
    ParamSpec("min_confidence", 0.3, "Keypoints below this confidence are masked", 0.0, 1.0, live=True),
    ParamSpec("min_visible_joints", 4, "A track's frame with fewer visible (unmasked) joints is not used: no "
              "output for it, a new track is not started, the drop is counted", 1, 17, live=True),
    ParamSpec("track_timeout", 1.0, "Seconds (input stamp time) without a track before it expires "
              "(its markers are deleted)", 0.01, 3600.0, live=True),
    ParamSpec("max_tracks", 16, "Tracks kept at once; skeletons of further new tracks are dropped (counted)", 1, 256),
    ParamSpec("input_qos_depth", 5, "Depth of the best-effort (sensor data) input subscriptions", 1, 1000),
    ParamSpec("output_qos_depth", 10, "Depth of the reliable output publishers", 1, 1000),
    ParamSpec("queue_size", 2, "Inference jobs waiting for the worker; when full the oldest is dropped (counted)",
              1, 100, live=True),
    ParamSpec("frame_rate", 0.0, "Input frame rate in Hz for gap detection; 0 = estimate from stamps", 0.0, 1000.0,
              live=True),
    ParamSpec("output_frame_id", "", "frame_id of the outputs; empty = header.frame_id of the input", live=True),
    ParamSpec("place_in_camera_frame", True, "Estimate the root translation from camera intrinsics (camera_info, "
              "or focal_length > 0); otherwise outputs are root-relative", live=True),
    ParamSpec("marker_scale", 0.05, "Joint sphere diameter in metres (bone width = half)", 0.001, 1.0, live=True),
    ParamSpec("marker_lifetime", 0.5, "Marker lifetime in seconds; 0 = until replaced or deleted", 0.0, 3600.0,
              live=True),
    ParamSpec("image_width", 640, "Image width in pixels used until camera_info arrives", 1, 100000, live=True),
    ParamSpec("image_height", 480, "Image height in pixels used until camera_info arrives", 1, 100000, live=True),
    ParamSpec("focal_length", 0.0, "Focal length in pixels used until camera_info arrives; 0 = unknown "
              "(outputs root-relative)", 0.0, 100000.0, live=True),
    ParamSpec("autostart", True, "Configure and activate on start-up (false: wait for lifecycle transitions)",
              read_only=True),
)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}


@dataclass(frozen=True)
class LifterParams:
    checkpoint: str
    backend: str
    device: str
    engine_dir: str
    precision: str
    ort_threads: int
    ort_spinning: bool
    input_format: str
    min_confidence: float
    min_visible_joints: int
    track_timeout: float
    max_tracks: int
    input_qos_depth: int
    output_qos_depth: int
    queue_size: int
    frame_rate: float
    output_frame_id: str
    place_in_camera_frame: bool
    marker_scale: float
    marker_lifetime: float
    image_width: int
    image_height: int
    focal_length: float
    autostart: bool


def _type_error(spec: ParamSpec, value: Any) -> str | None:
    expected = type(spec.default)
    ok = type(value) is expected
    if not ok:
        hint = f" (write {value}.0)" if expected is float and type(value) is int else ""
        return f"{spec.name}: expected {expected.__name__}, got {type(value).__name__} {value!r}{hint}"
    return None


def validate(values: dict[str, Any], shipped: list[str] | None = None) -> list[str]:
    """Every problem with a full set of parameter values, as readable sentences (empty list = valid).

    `shipped` is the list of shipped checkpoint names (None: skip the checkpoint existence check).
    """
    errors = [f"unknown parameter {name!r}" for name in sorted(set(values) - set(SPECS))]
    errors += [f"missing parameter {name!r}" for name in SPECS if name not in values]
    if errors:
        return errors
    for spec in PARAMS:
        value = values[spec.name]
        type_error = _type_error(spec, value)
        if type_error:
            errors.append(type_error)
        elif spec.low is not None and not spec.low <= value <= spec.high:
            errors.append(f"{spec.name}={value!r} is out of range [{spec.low}, {spec.high}]")
        elif spec.choices and value not in spec.choices:
            errors.append(f"{spec.name}={value!r} must be one of {list(spec.choices)}")
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
    width, height = values["image_width"], values["image_height"]
    intrinsics = fallback_intrinsics(width, height, values["focal_length"])
    problem = None if intrinsics is None else intrinsics_problem(width, height, intrinsics)
    if problem:
        errors.append(f"focal_length={values['focal_length']!r} with image_width={width}, image_height={height}: "
                      f"{problem}")
    return errors


def needs_reconfigure(names: list[str]) -> list[str]:
    """The parameters among `names` that only take effect at configure (refused while configured)."""
    return [name for name in names if name in SPECS and not SPECS[name].live]


def _ros_args(argv: list[str]) -> list[str]:
    """The arguments between --ros-args and the next --ros-args terminator (--), possibly several blocks."""
    inside, out = False, []
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--":
            inside = False
        elif inside:
            out.append(arg)
    return out


def command_line_problems(argv: list[str]) -> dict[str, str]:
    """{name: reason} for `-p name:=value` overrides ROS would drop silently: unknown names and wrong types.

    ROS parses a -p value as YAML; when a params file sets the same name, a value of another type (e.g.
    `min_confidence:=abc`) is silently discarded in favour of the file's value, so the type is checked here.
    """
    args, problems = _ros_args(argv), {}
    for flag, assignment in zip(args, args[1:]):
        if flag not in ("-p", "--param") or ":=" not in assignment:
            continue
        name, text = assignment.split(":=", 1)
        spec = SPECS.get(name)
        if spec is None:
            problems[name] = f"unknown parameter {clip(name)!r} (-p {clip(assignment)}); known: {sorted(SPECS)}"
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        type_error = _type_error(spec, value)
        if type_error:
            problems[name] = f"-p {clip(assignment)}: {type_error}"
    return problems


def to_params(values: dict[str, Any]) -> LifterParams:
    """Typed parameters from already validated values."""
    return LifterParams(**{f.name: values[f.name] for f in dataclasses.fields(LifterParams)})


def stream_options(p: LifterParams) -> StreamOptions:
    """The StreamingLifter's share of the parameters (all of them live)."""
    return StreamOptions(min_confidence=p.min_confidence, min_visible_joints=p.min_visible_joints,
                         track_timeout=p.track_timeout, max_tracks=p.max_tracks, frame_rate=p.frame_rate,
                         place_in_camera_frame=p.place_in_camera_frame)


def descriptor(spec: ParamSpec):
    """rcl_interfaces ParameterDescriptor for one spec (imported lazily: this module stays ROS-free)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description + (f" (one of {', '.join(spec.choices)})" if spec.choices else "")
    desc = ParameterDescriptor(name=spec.name, description=text, read_only=spec.read_only)
    if isinstance(spec.default, bool) or spec.low is None:
        return desc
    if isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    else:
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high))]
    return desc


def declare_all(node) -> dict[str, str]:
    """Declare every parameter on `node`; returns {name: reason} for overrides ROS refused (type or range).

    A refused override is declared with its default so the node still starts; configure then fails with the reason.
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    refused = {}
    for spec in PARAMS:
        try:
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            hint = " (floating-point parameters need a decimal point, e.g. 30.0)" if isinstance(
                spec.default, float) and "INTEGER" in str(exc) else ""
            refused[spec.name] = f"{spec.name}: {exc}{hint}"
            node.declare_parameter(spec.name, spec.default, descriptor(spec), ignore_override=True)
    return refused


def read_all(node) -> dict[str, Any]:
    """Current values of every parameter in the table."""
    return {spec.name: node.get_parameter(spec.name).value for spec in PARAMS}
