"""A small multi-person tracker: stable integer ids for per-frame 2D detections.

Each track keeps its last keypoints and a constant-velocity estimate; a detection is matched greedily to the
track whose *predicted* keypoints are closest (mean distance of joints confident in both, in units of the
track's box size; "confident" as the lifter means it: mpm_model.streaming.options.confident), gated by that
distance or by box IoU. The prediction is what keeps ids apart when two
people cross. Unmatched tracks survive `max_age_s` of stamp time (a person briefly hidden keeps their id);
new ids count up from 1 and are never reused."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.options import StreamOptions, confident
from mpm_model.vision.keypoints import keypoint_box


@dataclass
class _Track:
    track_id: int
    keypoints: np.ndarray  # (K, 2) last observed
    confidence: np.ndarray  # (K,)
    velocity: np.ndarray  # (K, 2) pixels per second
    stamp_s: float

    def predict(self, stamp_s: float) -> np.ndarray:
        return self.keypoints + self.velocity * (stamp_s - self.stamp_s)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class PoseTracker:
    """Assigns stable ids to detections frame by frame (`update`); `reset` forgets every track."""

    def __init__(self, max_age_s: float = 0.5, max_distance: float = 0.5, min_iou: float = 0.3,
                 min_confidence: float = StreamOptions.min_confidence) -> None:
        if max_age_s <= 0 or max_distance <= 0 or not 0 <= min_iou <= 1:
            raise ValueError(f"need max_age_s > 0, max_distance > 0, 0 <= min_iou <= 1; got {max_age_s}, "
                             f"{max_distance}, {min_iou}")
        self.max_age_s, self.max_distance, self.min_iou = max_age_s, max_distance, min_iou
        self.min_confidence = min_confidence
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self._tracks = []

    @property
    def track_ids(self) -> list[int]:
        return [t.track_id for t in self._tracks]

    def _distance(self, track: _Track, keypoints: np.ndarray, confidence: np.ndarray, stamp_s: float) -> float:
        predicted = track.predict(stamp_s)
        both = confident(confidence, self.min_confidence) & confident(track.confidence, self.min_confidence)
        box = keypoint_box(track.keypoints, track.confidence, self.min_confidence)
        if both.sum() < 2 or box is None:
            return np.inf
        scale = max(box[2] - box[0], box[3] - box[1], 1.0)
        return float(np.linalg.norm(predicted[both] - keypoints[both], axis=1).mean() / scale)

    def update(self, stamp_s: float, keypoints: list[np.ndarray], confidence: list[np.ndarray]) -> list[int]:
        """Detections of one frame ((K, 2) pixels + (K,) confidence each) → their track ids, in order."""
        self._tracks = [t for t in self._tracks if stamp_s - t.stamp_s <= self.max_age_s]
        pairs = []
        for d, (kp, conf) in enumerate(zip(keypoints, confidence)):
            box = keypoint_box(kp, conf, self.min_confidence)
            for t, track in enumerate(self._tracks):
                distance = self._distance(track, kp, conf, stamp_s)
                predicted_box = keypoint_box(track.predict(stamp_s), track.confidence, self.min_confidence)
                iou = box_iou(box, predicted_box) if box is not None and predicted_box is not None else 0.0
                if distance <= self.max_distance or iou >= self.min_iou:
                    pairs.append((distance, -iou, d, t))
        ids: list[int | None] = [None] * len(keypoints)
        used: set[int] = set()
        for _, _, d, t in sorted(pairs):
            if ids[d] is None and t not in used:
                ids[d] = self._tracks[t].track_id
                used.add(t)
                self._observe(self._tracks[t], keypoints[d], confidence[d], stamp_s)
        for d, track_id in enumerate(ids):
            if track_id is None:
                track = _Track(self._next_id, np.asarray(keypoints[d], np.float64),
                               np.asarray(confidence[d], np.float64), np.zeros_like(keypoints[d], np.float64),
                               stamp_s)
                self._tracks.append(track)
                ids[d] = track.track_id
                self._next_id += 1
        return [int(i) for i in ids]

    def _observe(self, track: _Track, keypoints: np.ndarray, confidence: np.ndarray, stamp_s: float) -> None:
        dt = stamp_s - track.stamp_s
        keypoints = np.asarray(keypoints, np.float64)
        if dt > 0:
            seen = confident(confidence, self.min_confidence) & confident(track.confidence, self.min_confidence)
            velocity = np.where(seen[:, None], (keypoints - track.keypoints) / dt, track.velocity)
            track.velocity = 0.5 * track.velocity + 0.5 * velocity
        track.keypoints, track.confidence, track.stamp_s = keypoints, np.asarray(confidence, np.float64), stamp_s
