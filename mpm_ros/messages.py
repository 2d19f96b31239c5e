"""Builders for the node's output messages from numpy arrays (message packages only, no rclpy)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from mpm_msgs.msg import Skeleton3D, Skeleton3DArray
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from mpm_model.skeleton import H36M_BONES

NS_PER_S = 1_000_000_000
JOINTS_MARKER_ID = 0
BONES_MARKER_ID = 1
MASKED_JOINT_ALPHA = 0.35
# Colour-blind-friendly (Okabe-Ito) palette; a track keeps its colour for its whole life.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.62, 0.00), (0.34, 0.71, 0.91), (0.00, 0.62, 0.45), (0.94, 0.89, 0.26),
    (0.00, 0.45, 0.70), (0.84, 0.37, 0.00), (0.80, 0.47, 0.65), (0.60, 0.60, 0.60),
)


def time_from_ns(stamp_ns: int) -> Time:
    return Time(sec=int(stamp_ns // NS_PER_S), nanosec=int(stamp_ns % NS_PER_S))


def ns_from_time(stamp: Time) -> int:
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def duration_from_s(seconds: float) -> Duration:
    nanoseconds = int(round(seconds * NS_PER_S))
    return Duration(sec=nanoseconds // NS_PER_S, nanosec=nanoseconds % NS_PER_S)


def track_namespace(track_id: int) -> str:
    return f"track_{track_id}"


def track_color(track_id: int) -> tuple[float, float, float]:
    """Deterministic colour of a track id."""
    return PALETTE[track_id % len(PALETTE)]


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=time_from_ns(stamp_ns), frame_id=frame_id)


def _points(joints: np.ndarray) -> list[Point]:
    return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(joints, np.float64)]


def skeleton3d_array(stamp_ns: int, frame_id: str, track_ids: Sequence[int], joints: np.ndarray,
                     confidence: np.ndarray, masked: np.ndarray) -> Skeleton3DArray:
    """(B, J, 3) metres + (B, J) confidence + (B, J) bool masked → Skeleton3DArray for source frame stamp_ns."""
    if not (len(track_ids) == len(joints) == len(confidence) == len(masked)):
        raise ValueError(f"batch sizes differ: {len(track_ids)} ids, {len(joints)} skeletons, "
                         f"{len(confidence)} confidences, {len(masked)} masks")
    return Skeleton3DArray(header=_header(stamp_ns, frame_id), skeletons=[
        Skeleton3D(track_id=int(track_id), joints=_points(joints[b]),
                   confidence=[float(c) for c in confidence[b]], masked=[bool(m) for m in masked[b]])
        for b, track_id in enumerate(track_ids)
    ])


def skeleton_markers(stamp_ns: int, frame_id: str, track_ids: Sequence[int], joints: np.ndarray,
                     masked: np.ndarray, scale: float, lifetime_s: float) -> MarkerArray:
    """Per track (namespace track_<id>): joints as SPHERE_LIST (id 0, masked joints faded), bones as LINE_LIST (id 1)."""
    markers = []
    for b, track_id in enumerate(track_ids):
        r, g, b_ = track_color(int(track_id))
        common = dict(header=_header(stamp_ns, frame_id), ns=track_namespace(int(track_id)),
                      action=Marker.ADD, lifetime=duration_from_s(lifetime_s), frame_locked=False)
        points = _points(joints[b])
        spheres = Marker(id=JOINTS_MARKER_ID, type=Marker.SPHERE_LIST, points=points,
                         colors=[ColorRGBA(r=r, g=g, b=b_, a=MASKED_JOINT_ALPHA if m else 1.0) for m in masked[b]],
                         color=ColorRGBA(r=r, g=g, b=b_, a=1.0), **common)
        spheres.scale.x = spheres.scale.y = spheres.scale.z = float(scale)
        spheres.pose.orientation.w = 1.0
        bones = Marker(id=BONES_MARKER_ID, type=Marker.LINE_LIST,
                       points=[points[i] for bone in H36M_BONES for i in bone],
                       color=ColorRGBA(r=r, g=g, b=b_, a=1.0), **common)
        bones.scale.x = float(scale) * 0.5
        bones.pose.orientation.w = 1.0
        markers += [spheres, bones]
    return MarkerArray(markers=markers)


def delete_markers(stamp_ns: int, frame_id: str, track_ids: Sequence[int]) -> MarkerArray:
    """DELETE both markers of each expired track."""
    return MarkerArray(markers=[
        Marker(header=_header(stamp_ns, frame_id), ns=track_namespace(int(track_id)), id=marker_id, action=Marker.DELETE)
        for track_id in track_ids for marker_id in (JOINTS_MARKER_ID, BONES_MARKER_ID)
    ])


def diagnostic_array(stamp_ns: int, name: str, hardware_id: str, level: bytes, message: str,
                     key_values: Sequence[tuple[str, str]]) -> DiagnosticArray:
    """One DiagnosticStatus; level is DiagnosticStatus.OK / WARN / ERROR."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in key_values])
    return DiagnosticArray(header=_header(stamp_ns, ""), status=[status])
