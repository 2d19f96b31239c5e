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
    joints3d, pixels, weights = (np.asarray(a, np.float64) for a in (joints3d, pixels, weights))
    if joints3d.ndim != 2 or joints3d.shape[1] != 3 or pixels.shape != (len(joints3d), 2) \
            or weights.shape != (len(joints3d),):
        raise ValueError(f"expected (J,3), (J,2), (J,) and (3,3), got {joints3d.shape}, {pixels.shape}, "
                         f"{weights.shape}, {np.shape(intrinsics)}")
    translation, solved = root_translations(joints3d[None], pixels[None], weights[None], intrinsics)
    return translation[0] if solved[0] else None


def root_translations(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                      intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """estimate_root_translation for a batch in one solve: (B, J, 3) + (B, J, 2) + (B, J) + K → t (B, 3) and (B,)
    bool "solved" (False where estimate_root_translation returns None; t is 0 there).

    The weighted normal equations (A^T W A) t = A^T W b of every track are built with einsum and solved together;
    a track is refused when it has fewer than two usable joints, its 3x3 system is near-singular (relative
    eigenvalue below 1e-10, what lstsq's rank test would catch), or the root lands closer than MIN_DEPTH_M.
    """
    joints3d = np.asarray(joints3d, np.float64)  # (B, J, 3)
    pixels = np.asarray(pixels, np.float64)  # (B, J, 2)
    weights = np.asarray(weights, np.float64)  # (B, J)
    batch, num_joints = weights.shape
    if joints3d.shape != (batch, num_joints, 3) or pixels.shape != (batch, num_joints, 2) \
            or np.shape(intrinsics) != (3, 3):
        raise ValueError(f"expected (B,J,3), (B,J,2), (B,J) and (3,3), got {joints3d.shape}, {pixels.shape}, "
                         f"{weights.shape}, {np.shape(intrinsics)}")
    with np.errstate(invalid="ignore"):
        usable = (weights > 0) & np.isfinite(pixels).all(-1) & np.isfinite(joints3d).all(-1)  # (B, J)
    w = np.where(usable, weights, 0.0)
    x, y, z = (np.where(usable, joints3d[..., i], 0.0) for i in range(3))  # (B, J) each
    k = np.asarray(intrinsics, np.float64)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    du = np.where(usable, pixels[..., 0] - cx, 0.0)  # (B, J)
    dv = np.where(usable, pixels[..., 1] - cy, 0.0)
    # Rows per joint: [fx, 0, -du] · t = du z - fx x  and  [0, fy, -dv] · t = dv z - fy y.
    zeros = np.zeros_like(du)
    rows_u = np.stack([np.full_like(du, fx), zeros, -du], -1)  # (B, J, 3)
    rows_v = np.stack([zeros, np.full_like(dv, fy), -dv], -1)
    rhs_u, rhs_v = du * z - fx * x, dv * z - fy * y  # (B, J)
    normal = np.einsum("bj,bjk,bjl->bkl", w, rows_u, rows_u) + np.einsum("bj,bjk,bjl->bkl", w, rows_v, rows_v)
    target = np.einsum("bj,bjk,bj->bk", w, rows_u, rhs_u) + np.einsum("bj,bjk,bj->bk", w, rows_v, rhs_v)
    eigen = np.linalg.eigvalsh(normal)  # (B, 3) ascending
    solvable = (usable.sum(-1) >= 2) & (eigen[:, 0] > 1e-10 * np.maximum(eigen[:, 2], 1e-300))
    safe = np.where(solvable[:, None, None], normal, np.eye(3))
    translation = np.linalg.solve(safe, np.where(solvable[:, None], target, 0.0)[..., None])[..., 0]  # (B, 3)
    solved = solvable & np.isfinite(translation).all(-1) & (translation[:, 2] >= MIN_DEPTH_M)
    return np.where(solved[:, None], translation, 0.0), solved
