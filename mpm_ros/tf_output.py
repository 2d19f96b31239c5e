"""The node's side of TF: where its outputs go (OutputFrames: the keypoints' frame, or target_frame through the
static camera_to_target or a tf2 lookup), the floor the ground plane stands people on (FloorLookup: ground_frame
through tf2) and the per-person frames it broadcasts (TfBroadcaster); `setup` makes all three (NodeTf).

tf2_ros and tf2_msgs are not dependencies of this package (they are not on PyPI): they are imported lazily, only
when `tf_lookup` / `publish_tf` / `ground_frame` ask for them. Configure is refused, naming the package, where
`tf_lookup` / `publish_tf` need one that is absent; a `ground_frame` without tf2_ros is a robot convenience, not a
refusal: a warning, and no floor. Here all are tested with look-alikes (a Buffer with lookup_transform, a TFMessage
type and a publisher); only a real ROS install runs them against tf2 itself (docs/NODE.md, "Output frame").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from geometry_msgs.msg import Quaternion, TransformStamped, Vector3

from mpm_model.orientations import joint_orientations
from mpm_model.streaming import Lifted
from mpm_model.streaming.frames import FrameOptions, Transform, to_frame, transform_age_problem
from mpm_model.streaming.ground import Floor, floor_from_transform
from mpm_model.streaming.person_frames import PersonFrames
from mpm_model.streaming.temporal import TemporalOptions
from mpm_ros.frame_decoder import Drop
from mpm_ros.messages import NS_PER_S, time_from_ns

CAMERA_UP = np.array([0.0, -1.0, 0.0])  # optical frames: y points down
TF_QOS_DEPTH = 100  # /tf, as tf2's own broadcasters
TF_MISSING = "ground.tf_missing"


@dataclass(frozen=True)
class Expressed:
    """One Lifted in the output frame."""

    frame_id: str
    joints: np.ndarray  # (B, J, 3) metres
    orientations: np.ndarray  # (B, J, 4) x, y, z, w
    up: np.ndarray  # (3,) the camera's up in the output frame (marker labels go above the head along it)
    root_velocity: np.ndarray  # (B, 3) m/s, NaN where unknown
    root_covariance: np.ndarray  # (B, 3, 3) m², NaN where unknown


class TfLookup:
    """tf2 transforms at a stamp, bounded wait; the latest one instead only when it is within max_age_s."""

    def __init__(self, buffer: Any, time_type: Callable[..., Any], duration_type: Callable[..., Any],
                 listener: Any = None) -> None:
        self.buffer, self._time, self._duration = buffer, time_type, duration_type
        self.listener = listener  # the tf2_ros.TransformListener filling the buffer, kept alive with it

    def transform(self, target: str, source: str, stamp_ns: int, timeout_s: float,
                  max_age_s: float) -> tuple[Transform | None, Drop | None]:
        """`source`'s pose in `target` at `stamp_ns` (waiting up to `timeout_s`), else the latest within `max_age_s`
        of it (a static transform, stamp 0, always); else a Drop saying why."""
        try:
            found = self.buffer.lookup_transform(target, source, self._time(nanoseconds=stamp_ns),
                                                 self._duration(seconds=timeout_s))
        except Exception as exc:  # tf2's Lookup/Connectivity/Extrapolation/Timeout errors
            try:
                found = self.buffer.lookup_transform(target, source, self._time(), self._duration(seconds=0.0))
            except Exception:
                return None, Drop("tf_lookup_failed", 1, f"no transform {source} → {target} at "
                                  f"{stamp_ns / 1e9:.6f} s: {type(exc).__name__}: {exc}")
            age = transform_age_problem(found.header.stamp.sec * NS_PER_S + found.header.stamp.nanosec, stamp_ns,
                                        max_age_s)
            if age:
                return None, Drop("tf_too_old", 1, f"not using the transform {source} → {target}: {age}")
        t, r = found.transform.translation, found.transform.rotation
        return Transform.from_pose((t.x, t.y, t.z, r.x, r.y, r.z, r.w)), None


def tf_lookup(node: Any) -> TfLookup:
    """A TfLookup on a tf2_ros Buffer + TransformListener of `node` (raises ImportError without tf2_ros)."""
    import tf2_ros
    from rclpy.duration import Duration
    from rclpy.time import Time

    buffer = tf2_ros.Buffer()
    return TfLookup(buffer, Time, Duration, tf2_ros.TransformListener(buffer, node))


class OutputFrames:
    """Each Lifted in the output frame, with its joint orientations; a failed or too old tf2 transform drops it
    (counted; warned once per cause and frame pair)."""

    def __init__(self, options: FrameOptions, lookup: TfLookup | None) -> None:
        self.options, self.lookup = options, lookup
        self._warned: set[tuple[str, str]] = set()

    def frame_id(self, source: str) -> str:
        return self.options.target_frame or source

    def express(self, lifted: Lifted, source: str) -> tuple[Expressed | None, Drop | None]:
        orientations = joint_orientations(lifted.joints)  # (B, J, 4): rotations only, placed or not
        o = self.options
        if not o.target_frame:
            return Expressed(source, lifted.joints, orientations, CAMERA_UP, lifted.root_velocity,
                             lifted.root_covariance), None
        if o.tf_lookup:  # configure-only: the lookup exists exactly when it is set
            transform, drop = self.lookup.transform(o.target_frame, source, lifted.stamp_ns, o.tf_timeout, o.tf_max_age)
            if drop is not None:
                first = (drop.reason, source) not in self._warned
                self._warned.add((drop.reason, source))
                return None, Drop(drop.reason, len(lifted.track_ids), drop.message if first else "")
        else:
            transform = Transform.from_pose(tuple(o.camera_to_target))
        framed = to_frame(transform, lifted.joints, lifted.placed, orientations, lifted.root_velocity,
                          lifted.root_covariance)
        return Expressed(o.target_frame, framed.joints, framed.orientations, transform.rotation @ CAMERA_UP,
                         framed.root_velocity, framed.root_covariance), None


class FloorLookup:
    """The ground plane's floor from tf2: `ground_frame` looked up in the keypoints' frame at a frame's stamp WITHOUT
    waiting (the worker never blocks on TF), else its latest transform within tf_max_age, never an older one
    (TfLookup's rule); the library takes the Floor, not the transform."""

    def __init__(self, options: FrameOptions, lookup: TfLookup | None = None, missing: str | None = None) -> None:
        self.options, self.lookup = options, lookup  # lookup: None without a ground_frame, or without tf2_ros
        self.missing = missing  # why a ground_frame has no lookup (tf2_ros absent), or None
        self._said: str | None = None
        self._quiet: set[str] = set()  # camera frames whose floor is missing and was said so: counted, not repeated

    def source(self, camera_frame: str, report: Callable[[str, str], None]) -> Callable[[int], Floor | None] | None:
        """StreamingLifter.lift's `floor` for frames of `camera_frame` (the keypoints' frame): the floor at a stamp,
        or None with (reason, message) reported; None without a lookup."""
        if self.lookup is None:
            return None

        def floor_at(stamp_ns: int) -> Floor | None:
            floor, missing = self.at(stamp_ns, camera_frame)
            if missing is None:
                self._quiet.discard(camera_frame)  # found: a later loss is said again
            else:  # said once per loss (a robot without the floor frame would hear it every frame), always counted
                report(missing.reason, "" if camera_frame in self._quiet else missing.message)
                self._quiet.add(camera_frame)
            return floor
        return floor_at

    def at(self, stamp_ns: int, camera_frame: str) -> tuple[Floor | None, Drop | None]:
        """The floor of the frame at `stamp_ns` in `camera_frame`, or None and why (ground.tf_missing)."""
        transform, drop = self.lookup.transform(camera_frame, self.options.ground_frame, stamp_ns, 0.0,
                                                self.options.tf_max_age)
        if drop is not None:
            return None, Drop(TF_MISSING, 1, f"no floor for ground_plane: {drop.message}")
        return floor_from_transform(transform), None

    def warning(self, temporal: TemporalOptions) -> str | None:
        """Why ground_plane corrects nothing with these options, once per cause (None: it has a floor source, or
        this was said last time)."""
        problem = None
        if temporal.ground_plane and temporal.ground_camera_height == 0 and self.lookup is None:
            problem = self.missing or ("ground_plane is on without a floor (ground_camera_height 0, no "
                                       "ground_frame): no root is corrected (counted ground.no_floor)")
        said, self._said = self._said, problem
        return problem if problem != said else None


class TfBroadcaster:
    """PersonFrames → one tf2_msgs/TFMessage on /tf (the message type and publisher are given: tested here with
    look-alikes)."""

    def __init__(self, publisher: Any, message_type: Callable[..., Any]) -> None:
        self.publisher, self.message_type = publisher, message_type

    def send(self, stamp_ns: int, frames: PersonFrames) -> None:
        if frames.child:
            self.publisher.publish(self.message_type(transforms=transforms(stamp_ns, frames)))


def transforms(stamp_ns: int, frames: PersonFrames) -> list[TransformStamped]:
    """One TransformStamped per frame, all at `stamp_ns`."""
    out = []
    for parent, child, (x, y, z), (qx, qy, qz, qw) in zip(frames.parent, frames.child, frames.translation.tolist(),
                                                          frames.rotation.tolist()):
        message = TransformStamped(child_frame_id=child)
        message.header.stamp, message.header.frame_id = time_from_ns(stamp_ns), parent
        message.transform.translation, message.transform.rotation = Vector3(x=x, y=y, z=z), Quaternion(
            x=qx, y=qy, z=qz, w=qw)
        out.append(message)
    return out


def tf_broadcaster(create_publisher: Callable[..., Any], qos: Any) -> TfBroadcaster:
    """A TfBroadcaster of tf2_msgs/TFMessage on /tf, its publisher made by `create_publisher(type, topic, qos)`
    (raises ImportError without tf2_msgs)."""
    from tf2_msgs.msg import TFMessage

    return TfBroadcaster(create_publisher(TFMessage, "/tf", qos), TFMessage)


@dataclass
class NodeTf:
    """The node's TF parts, made at configure (`setup`)."""

    frames: OutputFrames
    floor: FloorLookup
    broadcaster: TfBroadcaster | None  # publish_tf

    def set_options(self, options: FrameOptions, temporal: TemporalOptions, warn: Callable[[str], None]) -> None:
        """The frame options reach the output frames and the floor lookup (configure, live); a ground_plane that
        has no floor source is warned (once per cause)."""
        self.frames.options = self.floor.options = options
        warning = self.floor.warning(temporal)
        if warning:
            warn(warning)


def setup(options: FrameOptions, node: Any, tf_qos: Any) -> NodeTf:
    """The node's OutputFrames (with a tf2 lookup when tf_lookup), its FloorLookup (sharing that lookup, or its own
    when ground_frame is set) and its broadcaster (when publish_tf; its publisher a lifecycle publisher of `node`).
    Raises ImportError where tf_lookup / publish_tf need tf2_ros / tf2_msgs and they are missing; a ground_frame
    without tf2_ros is no error: FloorLookup.missing says why there is no floor."""
    lookup = tf_lookup(node) if options.tf_lookup else None
    broadcaster = tf_broadcaster(node.create_lifecycle_publisher, tf_qos) if options.publish_tf else None
    floor = FloorLookup(options)
    if options.ground_frame:
        try:
            floor.lookup = lookup or tf_lookup(node)
        except ImportError as exc:
            floor.missing = (f"ground_frame {options.ground_frame!r} needs tf2_ros (a ROS 2 install; "
                             f"{type(exc).__name__}: {exc}): ground_plane has no floor, no root is corrected")
    return NodeTf(OutputFrames(options, lookup), floor, broadcaster)
