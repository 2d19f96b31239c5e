"""Input keypoint layouts → (17, 2) pixels + (17,) confidence in Human3.6M-17 order (ROS-free).

Supported layouts (the `layout` string of mpm_msgs/Skeleton2D):
- "h36m17": already in `mpm_model.skeleton.H36M_JOINTS` order, copied 1:1.
- "coco17": converted with `mpm_model.skeleton.coco17_to_h36m17`: pelvis = mid-hips, thorax = mid-shoulders,
  spine = mean of hips and shoulders (= half-way between pelvis and thorax), neck/nose = nose,
  head = mean of eyes and ears, limbs 1:1. A synthesised joint's confidence is the minimum of its sources,
  so one undetected source masks it.
"""
from __future__ import annotations

import numpy as np

from mpm_model.skeleton import COCO_JOINTS, NUM_JOINTS, coco17_to_h36m17

LAYOUT_H36M17 = "h36m17"
LAYOUT_COCO17 = "coco17"
LAYOUT_JOINTS = {LAYOUT_H36M17: NUM_JOINTS, LAYOUT_COCO17: len(COCO_JOINTS)}


class LayoutError(ValueError):
    """Input skeleton that cannot be decoded; `reason` is the diagnostics counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def to_h36m17(layout: str, keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixels + (N,) confidence in `layout` → (17, 2) float32 pixels + (17,) float32 confidence.

    Non-finite values pass through unchanged (the window buffer masks them). Raises LayoutError with reason
    "unknown_layout" or "wrong_joint_count".
    """
    expected = LAYOUT_JOINTS.get(layout)
    if expected is None:
        raise LayoutError("unknown_layout", f"unknown layout {layout!r}; expected one of {sorted(LAYOUT_JOINTS)}")
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
    confidence = np.asarray(confidence, dtype=np.float32).reshape(-1)
    if keypoints.shape[0] != expected or confidence.shape[0] != expected:
        raise LayoutError("wrong_joint_count",
                          f"layout {layout!r} needs {expected} keypoints, got {keypoints.shape[0]}")
    if layout == LAYOUT_COCO17:
        with np.errstate(invalid="ignore"):
            return coco17_to_h36m17(keypoints, confidence)
    return keypoints, confidence
