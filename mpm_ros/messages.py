"""Builders for the node's output messages from numpy arrays (message packages only, no rclpy)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Quaternion, Vector3
from mpm_msgs.msg import Skeleton3D, Skeleton3DArray
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from mpm_model.skeleton import H36M_BONES

NS_PER_S = 1_000_000_000
JOINTS_MARKER_ID = 0
BONES_MARKER_ID = 1
LABEL_MARKER_ID = 2  # placed skeletons: TEXT_VIEW_FACING above the head saying how the root was placed
PLACEMENT_LABELS = {Skeleton3D.REPROJECTION: "2D fit", Skeleton3D.DEPTH: "depth", Skeleton3D.PREDICTED: "predicted"}
LABEL_HEIGHT_M = 0.25  # above the head joint, along the output frame's up (the camera's: y points down)
VELOCITY_SUFFIX = "/velocity"  # marker_velocity: an ARROW (id 0) from the root along 0.5 s of its velocity
VELOCITY_ARROW_S = 0.5
MASKED_JOINT_ALPHA = 0.35
BONE_POINTS = tuple(i for bone in H36M_BONES for i in bone)  # LINE_LIST: two points per bone
# Root-relative (unplaced) skeletons are drawn in their own namespace, white and translucent, at the frame origin:
# they must not look like a person standing at the camera.
UNPLACED_SUFFIX = "/root_relative"
UNPLACED_COLOR = (1.0, 1.0, 1.0)
UNPLACED_ALPHA = 0.6
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


def track_namespace(track_id: int, placed: bool = True) -> str:
    return f"track_{track_id}" + ("" if placed else UNPLACED_SUFFIX)


def track_color(track_id: int) -> tuple[float, float, float]:
    """Deterministic colour of a track id."""
    return PALETTE[track_id % len(PALETTE)]


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=time_from_ns(stamp_ns), frame_id=frame_id)


def track_points(joints: np.ndarray) -> list[list[Point]]:
    """(B, J, 3) metres → per track, J geometry_msgs/Point: built once, shared by the skeletons and the markers."""
    return [[Point(x=x, y=y, z=z) for x, y, z in track] for track in np.asarray(joints, np.float64).tolist()]


def skeleton3d_array(stamp_ns: int, frame_id: str, track_ids: Sequence[int], points: Sequence[list[Point]],
                     confidence: np.ndarray, masked: np.ndarray, placement: np.ndarray,
                     orientations: np.ndarray | None = None, root_velocity: np.ndarray | None = None,
                     root_covariance: np.ndarray | None = None) -> Skeleton3DArray:
    """track_points (B × J) + (B, J) confidence + (B, J) bool masked + (B,) uint8 placement (Skeleton3D.NOT_PLACED /
    REPROJECTION / DEPTH / PREDICTED; `placed` follows from it) [+ (B, J, 4) x, y, z, w orientations
    (docs/ORIENTATIONS.md; None: left empty)] [+ (B, 3) root velocity m/s and (B, 3, 3) root covariance m², NaN where
    unknown: has_velocity false / all zero] → Skeleton3DArray for the source frame stamp_ns."""
    batch = len(track_ids)
    if orientations is not None and len(orientations) != batch:
        raise ValueError(f"batch sizes differ: {batch} ids, {len(orientations)} orientations")
    if not (batch == len(points) == len(confidence) == len(masked) == len(placement)):
        raise ValueError(f"batch sizes differ: {len(track_ids)} ids, {len(points)} skeletons, "
                         f"{len(confidence)} confidences, {len(masked)} masks, {len(placement)} placements")
    confidence, masked = np.asarray(confidence, np.float64).tolist(), np.asarray(masked, bool).tolist()
    placement = np.asarray(placement, np.uint8).tolist()
    turns = [[]] * batch if orientations is None else [
        [Quaternion(x=x, y=y, z=z, w=w) for x, y, z, w in track]
        for track in np.asarray(orientations, np.float64).tolist()]
    velocity = np.full((batch, 3), np.nan) if root_velocity is None else np.asarray(root_velocity, np.float64)
    covariance = np.full((batch, 3, 3), np.nan) if root_covariance is None else np.asarray(root_covariance, np.float64)
    known = np.isfinite(velocity).all(-1).tolist()  # (B,)
    velocity = np.where(np.isfinite(velocity), velocity, 0.0).tolist()
    covariance = np.where(np.isfinite(covariance).all((1, 2))[:, None], covariance.reshape(batch, 9), 0.0).tolist()
    return Skeleton3DArray(header=_header(stamp_ns, frame_id), skeletons=[
        Skeleton3D(track_id=int(track_id), joints=points[b], confidence=confidence[b], masked=masked[b],
                   placed=placement[b] != Skeleton3D.NOT_PLACED, placement=placement[b], orientations=turns[b],
                   has_velocity=known[b], root_velocity=Vector3(x=velocity[b][0], y=velocity[b][1], z=velocity[b][2]),
                   root_covariance=covariance[b])
        for b, track_id in enumerate(track_ids)
    ])


def _delete(header: Header, namespace: str) -> list[Marker]:
    return [Marker(header=header, ns=namespace, id=marker_id, action=Marker.DELETE)
            for marker_id in (JOINTS_MARKER_ID, BONES_MARKER_ID, LABEL_MARKER_ID)]


def skeleton_markers(stamp_ns: int, frame_id: str, track_ids: Sequence[int], points: Sequence[list[Point]],
                     masked: np.ndarray, placement: np.ndarray, switched: np.ndarray, scale: float,
                     lifetime_s: float, up: Sequence[float] = (0.0, -1.0, 0.0)) -> MarkerArray:
    """Per track: joints as SPHERE_LIST (id 0, masked joints faded), bones as LINE_LIST (id 1), in namespace
    track_<id> in the track's colour when placed, with a TEXT_VIEW_FACING label (id 2) above the head saying how
    ("2D fit" / "depth"), else in track_<id>/root_relative in white. Where `switched`
    (B,) says the track changed state since its last markers, the two markers of the other namespace are deleted,
    so a track never shows twice. `up` (unit, in frame_id): the label goes above the head along it. Colours and
    points are shared objects: building 10 tracks costs ~0.3 ms."""
    markers = []
    header = _header(stamp_ns, frame_id)
    lifetime = duration_from_s(lifetime_s)
    for b, track_id in enumerate(track_ids):
        is_placed = int(placement[b]) != Skeleton3D.NOT_PLACED
        r, g, b_ = track_color(int(track_id)) if is_placed else UNPLACED_COLOR
        alpha = 1.0 if is_placed else UNPLACED_ALPHA
        solid = ColorRGBA(r=r, g=g, b=b_, a=alpha)
        faded = ColorRGBA(r=r, g=g, b=b_, a=alpha * MASKED_JOINT_ALPHA)
        common = dict(header=header, ns=track_namespace(int(track_id), is_placed), action=Marker.ADD,
                      lifetime=lifetime, frame_locked=False, color=solid)
        track = points[b]
        spheres = Marker(id=JOINTS_MARKER_ID, type=Marker.SPHERE_LIST, points=track,
                         colors=[faded if m else solid for m in masked[b].tolist()], **common)
        spheres.scale.x = spheres.scale.y = spheres.scale.z = float(scale)
        spheres.pose.orientation.w = 1.0
        bones = Marker(id=BONES_MARKER_ID, type=Marker.LINE_LIST, points=[track[i] for i in BONE_POINTS], **common)
        bones.scale.x = float(scale) * 0.5
        bones.pose.orientation.w = 1.0
        markers += [spheres, bones]
        if is_placed:
            head = track[10]
            label = Marker(id=LABEL_MARKER_ID, type=Marker.TEXT_VIEW_FACING,
                           text=PLACEMENT_LABELS.get(int(placement[b]), "placed"), **common)
            label.pose.position = Point(x=head.x + LABEL_HEIGHT_M * float(up[0]),
                                        y=head.y + LABEL_HEIGHT_M * float(up[1]),
                                        z=head.z + LABEL_HEIGHT_M * float(up[2]))
            label.pose.orientation.w = 1.0
            label.scale.z = float(scale) * 3.0
            markers.append(label)
        if switched[b]:
            markers += _delete(header, track_namespace(int(track_id), not is_placed))
    return MarkerArray(markers=markers)


class MarkerNamespaces:
    """Which namespace (placed or root-relative) each track's markers were last drawn in: a track that switches
    gets DELETEs in the other one (`switched`), none while its state stays the same."""

    def __init__(self) -> None:
        self._placed: dict[int, bool] = {}

    def switched(self, track_ids: Sequence[int], placed: np.ndarray) -> np.ndarray:
        """(B,) bool: tracks drawn for the first time or in the other namespace than last time; then recorded."""
        switched = np.array([self._placed.get(t) is not bool(ok) for t, ok in zip(track_ids, placed)])
        self._placed.update(zip(track_ids, np.asarray(placed).tolist()))
        return switched

    def forget(self, track_ids: Sequence[int]) -> None:
        for track_id in track_ids:
            self._placed.pop(track_id, None)


def velocity_markers(stamp_ns: int, frame_id: str, track_ids: Sequence[int], points: Sequence[list[Point]],
                     velocity: np.ndarray, scale: float, lifetime_s: float) -> list[Marker]:
    """Per track with a known root velocity ((B, 3) m/s, NaN where unknown): an ARROW in track_<id>/velocity from
    the root to where 0.5 s of that velocity takes it, in the track's colour; a DELETE of it where unknown."""
    header, lifetime, markers = _header(stamp_ns, frame_id), duration_from_s(lifetime_s), []
    for b, track_id in enumerate(track_ids):
        namespace = f"track_{int(track_id)}{VELOCITY_SUFFIX}"
        v = np.asarray(velocity[b], np.float64)
        if not np.isfinite(v).all():
            markers.append(Marker(header=header, ns=namespace, id=0, action=Marker.DELETE))
            continue
        root = points[b][0]
        end = Point(x=root.x + VELOCITY_ARROW_S * v[0], y=root.y + VELOCITY_ARROW_S * v[1],
                    z=root.z + VELOCITY_ARROW_S * v[2])
        r, g, b_ = track_color(int(track_id))
        arrow = Marker(header=header, ns=namespace, id=0, type=Marker.ARROW, action=Marker.ADD, lifetime=lifetime,
                       points=[root, end], color=ColorRGBA(r=r, g=g, b=b_, a=1.0))
        arrow.scale.x, arrow.scale.y, arrow.scale.z = float(scale) * 0.4, float(scale) * 0.8, float(scale)
        arrow.pose.orientation.w = 1.0
        markers.append(arrow)
    return markers


def delete_markers(stamp_ns: int, frame_id: str, track_ids: Sequence[int], velocity: bool = False) -> MarkerArray:
    """DELETE the markers of each expired track, in both namespaces (and its velocity arrow when drawn)."""
    header = _header(stamp_ns, frame_id)
    arrows = [Marker(header=header, ns=f"track_{int(t)}{VELOCITY_SUFFIX}", id=0, action=Marker.DELETE)
              for t in track_ids] if velocity else []
    return MarkerArray(markers=[marker for track_id in track_ids for placed in (True, False)
                                for marker in _delete(header, track_namespace(int(track_id), placed))] + arrows)


def diagnostic_report(stamp_ns: int, name: str, hardware_id: str, report: Any) -> DiagnosticArray:
    """A mpm_ros.diagnostics.Report as a DiagnosticArray."""
    return diagnostic_array(stamp_ns, name, hardware_id, bytes([report.level]), report.summary, report.values)


def diagnostic_array(stamp_ns: int, name: str, hardware_id: str, level: bytes, message: str,
                     key_values: Sequence[tuple[str, str]]) -> DiagnosticArray:
    """One DiagnosticStatus; level is DiagnosticStatus.OK / WARN / ERROR."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in key_values])
    return DiagnosticArray(header=_header(stamp_ns, ""), status=[status])
