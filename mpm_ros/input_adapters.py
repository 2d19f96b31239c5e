"""Adapters from the 2D publishers robots already run to the lifter's Skeleton2DArray, by `input_format`
(docs/CAMERA.md; `mpm_ros.adapter_node` runs them):
- `yolo_ros`: yolo_msgs/DetectionArray on `detections` (remap it to /yolo/tracking or /yolo/detections):
  COCO-17 keypoints with 1-based, sparse ids (only those above yolo_ros' threshold), string track ids.
- `ros4hri` (REP-155): hri_msgs/IdsList on /humans/bodies/tracked + one hri_msgs/Skeleton2D topic per body
  (/humans/bodies/<id>/skeleton2d), 18 points normalised to [0, 1].

Each adapter turns its messages into the native Skeleton2DArray (COCO-17 pixels, uint32 track ids, the
source header), so everything downstream (masking, windows, stamps, diagnostics) is the lifter's own.
yolo_msgs (GPL) and hri_msgs are imported lazily, only when selected: they are not dependencies.
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray

from mpm_model.vision.keypoints import coco18_to_coco17, densify_coco17
from mpm_model.vision.tracker import PoseTracker
from mpm_ros import messages

INPUT_FORMATS = ("yolo_ros", "ros4hri")
MESSAGE_MODULES = {"yolo_ros": "yolo_msgs.msg", "ros4hri": "hri_msgs.msg"}
HRI_BODIES = "/humans/bodies"
PERSON = "person"
MAX_PENDING_STAMPS = 3
MAX_REMEMBERED_IDS = 10_000


class IdMap:
    """String track ids → stable uint32 ids counting up from 1 (never reused; the oldest are forgotten past
    MAX_REMEMBERED_IDS so a long run stays bounded)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._next = 1

    def __call__(self, key: str) -> int:
        if key not in self._ids:
            self._ids[key] = self._next
            self._next += 1
            if len(self._ids) > MAX_REMEMBERED_IDS:
                self._ids.popitem(last=False)
        return self._ids[key]


def skeleton(track_id: int, keypoints: np.ndarray, confidence: np.ndarray) -> Skeleton2D:
    return Skeleton2D(track_id=int(track_id), layout=Skeleton2D.LAYOUT_COCO17, keypoints=[
        Keypoint2D(x=float(x), y=float(y), confidence=float(c)) for (x, y), c in zip(keypoints, confidence)])


class YoloRosAdapter:
    """yolo_msgs/DetectionArray → Skeleton2DArray: persons only, keypoints densified (absent = confidence 0),
    string ids mapped to uint32; detections without an id (the untracked topic) get ids from PoseTracker."""

    def __init__(self, drop: Callable[[str], None]) -> None:
        self.ids = IdMap()
        self.tracker = PoseTracker()
        self._drop = drop

    def convert(self, msg: Any) -> Skeleton2DArray:
        people, untracked = [], []
        for detection in msg.detections:
            if detection.class_name != PERSON:
                continue
            points = detection.keypoints.data
            try:
                keypoints, confidence = densify_coco17(
                    [p.id for p in points], [(p.point.x, p.point.y) for p in points], [p.score for p in points])
            except ValueError:
                self._drop("bad_keypoint_ids")
                continue
            if detection.id:
                people.append((self.ids(detection.id), keypoints, confidence))
            else:
                untracked.append((keypoints, confidence))
        if untracked:
            stamp_s = messages.ns_from_time(msg.header.stamp) * 1e-9
            ids = self.tracker.update(stamp_s, [k for k, _ in untracked], [c for _, c in untracked])
            # Tracker ids live in their own range so they never collide with string-mapped ids.
            people += [(self.ids(f"tracker:{i}"), k, c) for i, (k, c) in zip(ids, untracked)]
        return Skeleton2DArray(header=msg.header, skeletons=[skeleton(*person) for person in people])


class Ros4HriBatcher:
    """REP-155 bodies (one Skeleton2D topic per body, normalised [0, 1] 18-point skeletons) → one
    Skeleton2DArray per stamp in pixels. A stamp is emitted once every tracked body reported it, or when
    more than MAX_PENDING_STAMPS stamps wait (the oldest goes out with the bodies it has); stamps older than
    the last emitted one are dropped (`late_body`)."""

    def __init__(self, drop: Callable[[str], None]) -> None:
        self.ids = IdMap()
        self.tracked: set[str] = set()
        self._pending: dict[int, dict[str, Any]] = {}
        self._last_emitted: int | None = None
        self._drop = drop

    def set_tracked(self, body_ids: list[str]) -> tuple[set[str], set[str]]:
        """New tracked ids (from IdsList) → (ids that appeared, ids that left)."""
        new = set(body_ids)
        added, removed = new - self.tracked, self.tracked - new
        self.tracked = new
        return added, removed

    def add(self, body_id: str, msg: Any, width: int, height: int) -> list[Skeleton2DArray]:
        """One body's hri_msgs/Skeleton2D (image size in pixels) → the batches that are now complete."""
        stamp = messages.ns_from_time(msg.header.stamp)
        if self._last_emitted is not None and stamp <= self._last_emitted:
            self._drop("late_body")
            return []
        self._pending.setdefault(stamp, {})[body_id] = msg
        ready = []
        for pending in sorted(self._pending):
            bodies = self._pending[pending]
            if not (self.tracked <= set(bodies) or len(self._pending) > MAX_PENDING_STAMPS):
                break
            del self._pending[pending]
            self._last_emitted = pending
            ready.append(self._batch(bodies, width, height))
        return ready

    def _batch(self, bodies: dict[str, Any], width: int, height: int) -> Skeleton2DArray:
        header = next(iter(bodies.values())).header
        out = Skeleton2DArray(header=header)
        for body_id, msg in sorted(bodies.items()):
            values = np.array([(p.x, p.y, p.c) for p in msg.skeleton], np.float32).reshape(-1, 3)
            if len(values) != 18:
                self._drop("wrong_joint_count")
                continue
            keypoints, confidence = coco18_to_coco17(values[:, :2] * [width, height], values[:, 2])
            out.skeletons.append(skeleton(self.ids(body_id), keypoints, confidence))
        return out


def unavailable(input_format: str) -> str | None:
    """Why `input_format` cannot be used here (its message package is not installed), or None."""
    module = MESSAGE_MODULES[input_format]
    try:
        importlib.import_module(module)
    except ImportError:
        return (f"input_format={input_format} needs the {module.split('.')[0]} message package, which is not "
                f"installed (build it in your workspace; it is not a dependency of mpm_ros)")
    return None


class KeypointInput:
    """The subscription(s) of one input_format on `node`; every message reaches `callback` as a
    Skeleton2DArray. `image_size()` gives (width, height) for normalised inputs (ros4hri); `drop(reason)`
    counts what an adapter had to discard (the lifter passes its diagnostics counter)."""

    def __init__(self, node: Any, input_format: str, callback: Callable[[Skeleton2DArray], None], qos: Any,
                 image_size: Callable[[], tuple[int, int]], drop: Callable[[str], None]) -> None:
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"unknown input_format {input_format!r}; expected one of {list(INPUT_FORMATS)}")
        self._node, self._callback, self._qos, self._image_size, self._drop = node, callback, qos, image_size, drop
        self._subscriptions: dict[str, Any] = {}
        self.adapter: YoloRosAdapter | Ros4HriBatcher
        if input_format == "yolo_ros":
            msgs = importlib.import_module(MESSAGE_MODULES[input_format])
            self.adapter = YoloRosAdapter(drop)
            self._subscriptions[""] = node.create_subscription(
                msgs.DetectionArray, "detections", lambda m: self._guard(lambda: callback(self.adapter.convert(m))),
                qos)
        else:
            self._hri = importlib.import_module(MESSAGE_MODULES[input_format])
            self.adapter = Ros4HriBatcher(drop)
            self._subscriptions[""] = node.create_subscription(
                self._hri.IdsList, f"{HRI_BODIES}/tracked", lambda m: self._guard(lambda: self._on_tracked(m)), qos)

    def _guard(self, handle: Callable[[], None]) -> None:
        """A subscription callback must never raise: a message the adapter cannot read is counted and logged."""
        try:
            handle()
        except Exception as exc:
            self._drop("undecodable_message")
            self._node.get_logger().warning(f"dropping a message: {type(exc).__name__}: {exc}",
                                            throttle_duration_sec=5.0)

    def _on_tracked(self, msg: Any) -> None:
        added, removed = self.adapter.set_tracked(list(msg.ids))
        for body_id in removed:
            self._node.destroy_subscription(self._subscriptions.pop(body_id))
        for body_id in added:
            try:
                self._subscriptions[body_id] = self._node.create_subscription(
                    self._hri.Skeleton2D, f"{HRI_BODIES}/{body_id}/skeleton2d",
                    lambda m, b=body_id: self._guard(lambda: self._on_body(b, m)), self._qos)
            except Exception as exc:  # e.g. an id that is not a valid topic name: count it, keep serving
                self._drop("invalid_body_id")
                self._node.get_logger().warning(f"cannot subscribe to body {body_id!r}: {exc}")

    def _on_body(self, body_id: str, msg: Any) -> None:
        width, height = self._image_size()
        for batch in self.adapter.add(body_id, msg, width, height):
            self._callback(batch)

    def destroy(self) -> None:
        for subscription in self._subscriptions.values():
            self._node.destroy_subscription(subscription)
        self._subscriptions = {}
