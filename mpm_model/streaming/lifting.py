"""The node's one lifter call over a batch of windows: short gaps of hidden joints bridged (gap_fill), then each
window lifted as seen and, while a frame lifts few tracks, mirrored too (mirror). StreamingLifter and the pose
refiner's training data (tools/train_refiner.py) both call it, so the refiner learns from the lifter's answers as
the node gets them. Torch-free, like all of streaming."""
from __future__ import annotations

import numpy as np

from mpm_model.streaming.gap_fill import fill_gaps
from mpm_model.streaming.mirror import Infers, infer_mirrored


def infer_windows(backend: Infers, keypoints: np.ndarray, mask: np.ndarray, max_gap: int,
                  mirrored: bool) -> np.ndarray:
    """(B, T, J, 2) keypoints + (B, T, J) mask (True = hidden) → (B, 1, J, 3) root-relative 3D: gaps of at most
    `max_gap` frames filled (0 = none), lifted mirrored too when `mirrored`."""
    keypoints, mask = fill_gaps(keypoints, mask, max_gap)
    return infer_mirrored(backend, keypoints, mask) if mirrored else np.asarray(backend.infer(keypoints, mask))
