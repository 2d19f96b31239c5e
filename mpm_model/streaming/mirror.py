"""Mirrored lifting (test-time flip, as VideoPose3D and MPM evaluate): every window is lifted as seen and mirrored
left/right in the same backend.infer(), and the two answers are averaged.

The lifter was trained on mirrored views as often as on plain ones (skeleton.flip_pose), so the mirrored pass
is a second estimate of the same pose whose errors are partly its own; the mean is exactly mirror-equivariant.
Screen x is centred on the image (window_buffer), so mirroring the 2D is negating x and swapping left and right,
and the 3D answer is mirrored back the same way (camera frame, x right). Torch-free, like all of streaming.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from mpm_model.skeleton import NUM_JOINTS, flip_mask, flip_pose


class Infers(Protocol):
    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def infer_mirrored(backend: Infers, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B, T, J, 2) keypoints + (B, T, J) mask → (B, 1, J, 3) float32: the mean of the answer for the windows and
    the mirrored answer for the mirrored windows, from one infer() of 2B windows."""
    if keypoints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"mirrored lifting needs the {NUM_JOINTS} H36M joints, got {keypoints.shape}")
    batch = len(keypoints)
    both = backend.infer(np.concatenate([keypoints, flip_pose(keypoints)]),
                         np.concatenate([mask, flip_mask(mask)]))  # (2B, 1, J, 3)
    both = np.asarray(both, dtype=np.float32)
    return 0.5 * (both[:batch] + flip_pose(both[batch:]))
