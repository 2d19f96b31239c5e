"""Mirrored lifting (test-time flip, as VideoPose3D and MPM evaluate): every window is lifted as seen and mirrored
left/right in the same backend.infer(), and the two answers are averaged.

The lifter was trained on mirrored views as often as on plain ones (data.augment.flip_pose), so the mirrored pass
is a second estimate of the same pose whose errors are partly its own; the mean is exactly mirror-equivariant.
Screen x is centred on the image (window_buffer), so mirroring the 2D is negating x and swapping left and right,
and the 3D answer is mirrored back the same way (camera frame, x right). Torch-free, like all of streaming.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from mpm_model.skeleton import H36M_FLIP_PERMUTATION, NUM_JOINTS


class Infers(Protocol):
    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def mirror(points: np.ndarray) -> np.ndarray:
    """(..., J, C) screen 2D or camera-frame 3D mirrored: x negated, left and right joints swapped (a new array)."""
    out = np.asarray(points)[..., list(H36M_FLIP_PERMUTATION), :]  # fancy indexing copies
    out[..., 0] = -out[..., 0]
    return out


def infer_mirrored(backend: Infers, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B, T, J, 2) keypoints + (B, T, J) mask → (B, 1, J, 3) float32: the mean of the answer for the windows and
    the mirrored answer for the mirrored windows, from one infer() of 2B windows."""
    if keypoints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"mirrored lifting needs the {NUM_JOINTS} H36M joints, got {keypoints.shape}")
    batch = len(keypoints)
    both = backend.infer(np.concatenate([keypoints, mirror(keypoints)]),
                         np.concatenate([mask, mask[..., list(H36M_FLIP_PERMUTATION)]]))  # (2B, 1, J, 3)
    both = np.asarray(both, dtype=np.float32)
    return 0.5 * (both[:batch] + mirror(both[batch:]))
