"""Human3.6M-17 skeleton (VideoPose3D joint order) and the COCO-17 → H36M-17 conversion."""
from __future__ import annotations

import numpy as np

H36M_JOINTS: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
NUM_JOINTS = len(H36M_JOINTS)
ROOT_JOINT = 0
# VideoPose3D's kept-joint indices for reducing the 32-joint Human3.6M skeleton to 17 joints.
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(H36M_PARENTS) if p >= 0)
H36M_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
H36M_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
# Index permutation that swaps left and right joints (used for flip augmentation).
H36M_FLIP_PERMUTATION: tuple[int, ...] = tuple(
    H36M_RIGHT[H36M_LEFT.index(j)] if j in H36M_LEFT else H36M_LEFT[H36M_RIGHT.index(j)] if j in H36M_RIGHT else j
    for j in range(NUM_JOINTS)
)

COCO_JOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# Each H36M joint is the mean of these COCO joints (COCO has no pelvis/spine/thorax: they are synthesised).
COCO_TO_H36M_SOURCES: tuple[tuple[int, ...], ...] = (
    (11, 12),                  # pelvis = mid-hips
    (12,), (14,), (16,),       # right hip, knee, ankle
    (11,), (13,), (15,),       # left hip, knee, ankle
    (5, 6, 11, 12),            # spine = mid-torso
    (5, 6),                    # thorax = mid-shoulders
    (0,),                      # neck/nose
    (1, 2, 3, 4),              # head = mid eyes+ears
    (5,), (7,), (9,),          # left shoulder, elbow, wrist
    (6,), (8,), (10,),         # right shoulder, elbow, wrist
)


def flip_pose(poses: np.ndarray) -> np.ndarray:
    """Mirror (..., J, 2|3) poses, numpy arrays or torch tensors (kept as they are; no torch import here): negate x
    and swap left/right joints, in a copy.

    Valid for camera-frame 3D (x right) and for normalised screen 2D when the principal point is the
    image centre, so flipping both keeps a 2D/3D pair consistent. Flipping twice is the identity.
    """
    poses = poses if hasattr(poses, "ndim") else np.asarray(poses)
    if poses.ndim < 2 or poses.shape[-2] != NUM_JOINTS or poses.shape[-1] not in (2, 3):
        raise ValueError(f"flip_pose: expected (..., {NUM_JOINTS}, 2|3), got {tuple(poses.shape)}")
    out = poses[..., list(H36M_FLIP_PERMUTATION), :]  # advanced indexing copies (numpy and torch)
    out[..., 0] = -out[..., 0]
    return out


def flip_mask(mask: np.ndarray) -> np.ndarray:
    """Swap left/right columns of a (..., J) joint mask to follow `flip_pose`."""
    mask = np.asarray(mask)
    if mask.ndim < 1 or mask.shape[-1] != NUM_JOINTS:
        raise ValueError(f"flip_mask: expected (..., {NUM_JOINTS}), got {mask.shape}")
    return mask[..., list(H36M_FLIP_PERMUTATION)].copy()


def coco17_to_h36m17(keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert (..., 17, D) COCO keypoints + (..., 17) confidence to H36M-17.

    A synthesised joint takes the mean position of its sources and their minimum confidence, so one
    missing source marks the synthesised joint as missing too.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    confidence = np.asarray(confidence, dtype=np.float32)
    if keypoints.ndim < 2 or keypoints.shape[-2] != len(COCO_JOINTS):
        raise ValueError(f"expected COCO keypoints of shape (..., 17, D), got {keypoints.shape}")
    if confidence.shape != keypoints.shape[:-1]:
        raise ValueError(f"expected confidence of shape {keypoints.shape[:-1]}, got {confidence.shape}")
    out_kp = np.stack([keypoints[..., list(src), :].mean(axis=-2) for src in COCO_TO_H36M_SOURCES], axis=-2)
    out_conf = np.stack([confidence[..., list(src)].min(axis=-1) for src in COCO_TO_H36M_SOURCES], axis=-1)
    return out_kp, out_conf
