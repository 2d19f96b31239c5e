"""Shared rosbag2 helpers for make_bag / replay / report (pure-Python `rosbags`, no rosbag2 C++ needed).

The typestore is ROS 2 Kilted plus mpm_msgs parsed from the .msg files, so every bag we write embeds
the full definitions (and the same RIHS01 hashes rosidl generates): a real `ros2 bag info/play` can
read it without our package sourced.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

from mpm_model.streaming.frames import Transform, pose_problem

FRAME_ID = "camera_optical_frame"

CAMERA_INFO_TOPIC = "/camera_info"
DEPTH_TOPIC = "/depth"
KEYPOINTS_TOPIC = "/keypoints"
GROUND_TRUTH_TOPIC = "/ground_truth/skeletons3d"
SKELETONS3D_TOPIC = "/skeletons3d"
MARKERS_TOPIC = "/markers"
DIAGNOSTICS_TOPIC = "/diagnostics"
TF_STATIC_TOPIC = "/tf_static"

CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPE = "sensor_msgs/msg/Image"
SKELETON2D_ARRAY_TYPE = "mpm_msgs/msg/Skeleton2DArray"
SKELETON3D_ARRAY_TYPE = "mpm_msgs/msg/Skeleton3DArray"
MARKER_ARRAY_TYPE = "visualization_msgs/msg/MarkerArray"
DIAGNOSTIC_ARRAY_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
TF_MESSAGE_TYPE = "tf2_msgs/msg/TFMessage"

# Types of the topics our tools know without asking the ROS graph.
KNOWN_TOPIC_TYPES: dict[str, str] = {
    CAMERA_INFO_TOPIC: CAMERA_INFO_TYPE,
    DEPTH_TOPIC: IMAGE_TYPE,
    KEYPOINTS_TOPIC: SKELETON2D_ARRAY_TYPE,
    GROUND_TRUTH_TOPIC: SKELETON3D_ARRAY_TYPE,
    SKELETONS3D_TOPIC: SKELETON3D_ARRAY_TYPE,
    MARKERS_TOPIC: MARKER_ARRAY_TYPE,
    DIAGNOSTICS_TOPIC: DIAGNOSTIC_ARRAY_TYPE,
    TF_STATIC_TOPIC: TF_MESSAGE_TYPE,
}
# /tf_static is latched (transient local, keep last 1) as tf2's StaticTransformBroadcaster offers it, so that
# `ros2 bag play` serves it to a listener that starts after the message was played.
_FOREVER = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
STATIC_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _FOREVER,
                 _FOREVER, QosLiveliness.AUTOMATIC, _FOREVER, False)

STORAGE_PLUGINS = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_NS = 1_000_000_000


def _mpm_msg_dir() -> Path:
    """The .msg files: the source tree next to this package, else the installed share/ copy."""
    source = Path(__file__).resolve().parents[2] / "mpm_msgs" / "msg"
    if source.is_dir():
        return source
    from ament_index_python.packages import get_package_share_directory  # only in installed layouts

    return Path(get_package_share_directory("mpm_msgs")) / "msg"


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Kilted types plus mpm_msgs, registered from the .msg sources."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for msg_file in sorted(_mpm_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(msg_file.read_text(), f"mpm_msgs/msg/{msg_file.stem}"))
    if not types:
        raise FileNotFoundError(f"no mpm_msgs .msg files found in {_mpm_msg_dir()}")
    store.register(types)
    return store


def open_writer(path: Path | str, storage: str = "mcap") -> Writer:
    """An opened rosbag2 writer (version 9); `path` must not exist yet."""
    if storage not in STORAGE_PLUGINS:
        raise ValueError(f"storage must be one of {sorted(STORAGE_PLUGINS)}, got {storage!r}")
    writer = Writer(Path(path), version=Writer.VERSION_LATEST, storage_plugin=STORAGE_PLUGINS[storage])
    writer.open()
    return writer


def has_header(msgtype: str) -> bool:
    """True when the message's first field is a std_msgs/Header (so its stamp sits right after the CDR header)."""
    definition = typestore().fielddefs.get(msgtype)
    if definition is None:
        return False  # a type we cannot inspect is published untouched
    fields = definition[1]
    return bool(fields) and fields[0][0] == "header" and fields[0][1][1] == "std_msgs/msg/Header"


def _endian(raw: bytes | bytearray | memoryview) -> str:
    """CDR encapsulation byte 1: 0x01 = little endian, 0x00 = big endian."""
    if len(raw) < 12:
        raise ValueError(f"CDR message too short for a header stamp: {len(raw)} bytes, expected >= 12")
    return "<" if raw[1] & 1 else ">"


def header_stamp_ns(raw: bytes | bytearray | memoryview) -> int:
    """header.stamp (ns) of a CDR message whose first field is std_msgs/Header."""
    sec, nanosec = struct.unpack_from(_endian(raw) + "iI", raw, 4)
    return sec * _NS + nanosec


def restamp(raw: bytes | bytearray | memoryview, stamp_ns: int) -> bytes:
    """Copy of a CDR message with header.stamp replaced; no full (de)serialisation needed."""
    out = bytearray(raw)
    struct.pack_into(_endian(out) + "iI", out, 4, stamp_ns // _NS, stamp_ns % _NS)
    return bytes(out)


def stamp_ns(header: Any) -> int:
    """Nanoseconds of a deserialised header (rosbags or rclpy message)."""
    return int(header.stamp.sec) * _NS + int(header.stamp.nanosec)


def iter_raw(path: Path | str, topics: Sequence[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log_time_ns, cdr bytes) in log-time order."""
    with AnyReader([Path(path)], default_typestore=typestore()) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        if not connections:  # rosbags reads every topic when given none
            return
        for connection, log_time, raw in reader.messages(connections=connections):
            yield connection.topic, connection.msgtype, log_time, bytes(raw)


def read_topics(path: Path | str, topics: Sequence[str]) -> dict[str, list[tuple[int, Any]]]:
    """Deserialised messages per topic as (log_time_ns, msg); topics absent from the bag map to []."""
    out: dict[str, list[tuple[int, Any]]] = {topic: [] for topic in topics}
    with AnyReader([Path(path)], default_typestore=typestore()) as reader:
        connections = [c for c in reader.connections if c.topic in out]
        if not connections:  # rosbags reads every topic when given none
            return out
        for connection, log_time, raw in reader.messages(connections=connections):
            out[connection.topic].append((log_time, reader.deserialize(raw, connection.msgtype)))
    return out


def bag_topics(path: Path | str) -> dict[str, str]:
    """topic -> msgtype of a bag."""
    with AnyReader([Path(path)], default_typestore=typestore()) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def static_transform(path: Path | str, target: str, source: str) -> Transform | None:
    """`source`'s pose in `target` (p_target = R p_source + t, as tf2's lookup_transform(target, source) gives it)
    from the bag's /tf_static, where one message holds that edge in either direction; None when none does."""
    for _, msg in read_topics(path, [TF_STATIC_TOPIC])[TF_STATIC_TOPIC]:
        for stamped in msg.transforms:
            edge = (stamped.header.frame_id, stamped.child_frame_id)
            if edge not in ((target, source), (source, target)):
                continue
            t, r = stamped.transform.translation, stamped.transform.rotation
            pose = (t.x, t.y, t.z, r.x, r.y, r.z, r.w)
            if problem := pose_problem(pose):
                raise ValueError(f"{path}: /tf_static {edge[0]} -> {edge[1]}: {problem}")
            child_in_parent = Transform.from_pose(pose)
            return child_in_parent if edge == (target, source) else child_in_parent.inverse()
    return None
