"""2D keypoint layouts of the detectors and 2D publishers the front end accepts, all converted to COCO-17
(the lifter maps COCO-17 → H36M-17 with `mpm_model.skeleton.coco17_to_h36m17`)."""
from __future__ import annotations

import numpy as np

from mpm_model.skeleton import COCO_JOINTS
from mpm_model.streaming.options import confident

NUM_COCO = len(COCO_JOINTS)
# MediaPipe BlazePose 33 landmarks → COCO-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
BLAZEPOSE33_TO_COCO17: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# ros4hri hri_msgs/Skeleton2D, 18 points (its constants: 0 NOSE, 1 NECK, 2-4 right arm, 5-7 left arm, 8-10 right
# leg, 11-13 left leg, 14 LEFT_EYE, 15 RIGHT_EYE, 16 LEFT_EAR, 17 RIGHT_EAR) → COCO-17; the neck is dropped.
COCO18_TO_COCO17: tuple[int, ...] = (0, 14, 15, 16, 17, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)


def _select(keypoints: np.ndarray, confidence: np.ndarray, indices: tuple[int, ...],
            expected: int) -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.asarray(keypoints, np.float32)
    confidence = np.asarray(confidence, np.float32)
    if keypoints.shape != (expected, 2) or confidence.shape != (expected,):
        raise ValueError(f"expected ({expected}, 2) keypoints and ({expected},) confidence, "
                         f"got {keypoints.shape} and {confidence.shape}")
    return keypoints[list(indices)], confidence[list(indices)]


def blazepose33_to_coco17(keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(33, 2) + (33,) BlazePose → (17, 2) + (17,) COCO-17."""
    return _select(keypoints, confidence, BLAZEPOSE33_TO_COCO17, 33)


def coco18_to_coco17(keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(18, 2) + (18,) hri_msgs/Skeleton2D order → (17, 2) + (17,) COCO-17 (drops the neck)."""
    return _select(keypoints, confidence, COCO18_TO_COCO17, 18)


def densify_coco17(ids: np.ndarray, xy: np.ndarray, score: np.ndarray,
                   one_based: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Sparse COCO-17 keypoints (only those a detector kept) → dense (17, 2) + (17,); absent = (0, 0), score 0.

    Raises ValueError on an id outside COCO-17 or a repeated id, rather than guessing which one is right."""
    ids = np.asarray(ids, np.int64).reshape(-1) - (1 if one_based else 0)
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    score = np.asarray(score, np.float32).reshape(-1)
    if not len(ids) == len(xy) == len(score):
        raise ValueError(f"{len(ids)} ids, {len(xy)} points and {len(score)} scores differ")
    if len(ids) and (ids.min() < 0 or ids.max() >= NUM_COCO):
        raise ValueError(f"keypoint ids must be in [{int(one_based)}, {NUM_COCO - 1 + int(one_based)}], got "
                         f"{sorted(set((ids + int(one_based)).tolist()))}")
    if len(set(ids.tolist())) != len(ids):
        raise ValueError(f"repeated keypoint ids {sorted((ids + int(one_based)).tolist())}")
    keypoints = np.zeros((NUM_COCO, 2), np.float32)
    confidence = np.zeros(NUM_COCO, np.float32)
    keypoints[ids], confidence[ids] = xy, score
    return keypoints, confidence


def keypoint_box(keypoints: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.0) -> np.ndarray | None:
    """Axis-aligned box (x0, y0, x1, y1) of the finite, confident keypoints (mpm_model.streaming.options.confident);
    None when there are < 2."""
    keypoints = np.asarray(keypoints, np.float64)
    ok = confident(confidence, min_confidence) & np.isfinite(keypoints).all(axis=1)
    if ok.sum() < 2:
        return None
    return np.concatenate([keypoints[ok].min(axis=0), keypoints[ok].max(axis=0)])
