"""Root translation of a root-relative 3D skeleton in the camera frame, from its 2D keypoints (ROS-free).

For a pinhole camera, joint j at X_j + t projects to u_j = fx (X_j + t_x) / (Z_j + t_z) + cx, which is linear
in t once multiplied out:  fx t_x - (u_j - cx) t_z = (u_j - cx) Z_j - fx X_j  (and likewise for v with fy, cy).
Two equations per visible joint, three unknowns: weighted linear least squares (weights = confidence).
Keypoints must be undistorted (rectified image or distortion-free camera).
"""
from __future__ import annotations

import numpy as np

MIN_DEPTH_M = 0.1


def estimate_root_translation(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                              intrinsics: np.ndarray) -> np.ndarray | None:
    """(J, 3) root-relative metres + (J, 2) pixels + (J,) weights (0 = unused) + K (3, 3) → t (3,) or None.

    None when fewer than two joints have positive weight, the system is degenerate, or the solution puts
    the root less than MIN_DEPTH_M in front of the camera.
    """
    joints3d = np.asarray(joints3d, np.float64)
    pixels = np.asarray(pixels, np.float64)
    weights = np.asarray(weights, np.float64)
    intrinsics = np.asarray(intrinsics, np.float64)
    if joints3d.ndim != 2 or joints3d.shape[1] != 3 or pixels.shape != (len(joints3d), 2) \
            or weights.shape != (len(joints3d),) or intrinsics.shape != (3, 3):
        raise ValueError(f"expected (J,3), (J,2), (J,) and (3,3), got {joints3d.shape}, {pixels.shape}, "
                         f"{weights.shape}, {intrinsics.shape}")
    usable = (weights > 0) & np.isfinite(pixels).all(axis=1) & np.isfinite(joints3d).all(axis=1)
    if usable.sum() < 2:
        return None
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    x, y, z = joints3d[usable].T
    du, dv = pixels[usable, 0] - cx, pixels[usable, 1] - cy
    ones, zeros = np.ones_like(du), np.zeros_like(du)
    rows = np.concatenate([np.stack([fx * ones, zeros, -du], axis=1),
                           np.stack([zeros, fy * ones, -dv], axis=1)])  # (2n, 3)
    rhs = np.concatenate([du * z - fx * x, dv * z - fy * y])  # (2n,)
    sqrt_w = np.sqrt(np.tile(weights[usable], 2))
    solution, _, rank, _ = np.linalg.lstsq(rows * sqrt_w[:, None], rhs * sqrt_w, rcond=None)
    if rank < 3 or not np.isfinite(solution).all() or solution[2] < MIN_DEPTH_M:
        return None
    return solution


def place_batch(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, J, 3) + (B, J, 2) + (B, J) → placed joints (B, J, 3) and (B,) bool "placed"; unplaced stay root-relative."""
    placed = np.array(joints3d, np.float64, copy=True)
    ok = np.zeros(len(placed), bool)
    for b in range(len(placed)):
        translation = estimate_root_translation(joints3d[b], pixels[b], weights[b], intrinsics)
        if translation is not None:
            placed[b] += translation
            ok[b] = True
    return placed, ok
