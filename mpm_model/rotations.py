"""Quaternions and rotation matrices, batched over any leading axes (pure numpy, ROS-free).

Quaternions are (x, y, z, w) like geometry_msgs/Quaternion, returned with w ≥ 0; a rotation matrix maps vectors
of the rotated (child) frame into the reference (parent) frame, its columns being the child's axes.
"""
from __future__ import annotations

import numpy as np

UNIT_TOLERANCE = 1e-3  # |‖q‖ − 1| accepted in a quaternion parameter (typed by hand: 0.7071 is fine)


def quaternion_problem(q: np.ndarray | tuple[float, ...]) -> str | None:
    """Why `q` (x, y, z, w) is not a usable rotation (non-finite, or not unit within UNIT_TOLERANCE), or None."""
    q = np.asarray(q, np.float64)
    if q.shape != (4,) or not np.isfinite(q).all():
        return f"quaternion {q.tolist()} is not 4 finite numbers"
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        return f"quaternion {q.tolist()} has norm {norm:.6g}, not 1 (± {UNIT_TOLERANCE})"
    return None


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) x, y, z, w (normalised here) → (..., 3, 3)."""
    q = np.asarray(q, np.float64)
    x, y, z, w = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    rows = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    return np.stack([np.stack(row, -1) for row in rows], -2)


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices → (..., 4) x, y, z, w with w ≥ 0 (Shepperd: the largest of the four
    candidates is divided by, so no case loses precision)."""
    m = np.asarray(r, np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    t = np.stack([1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22], -1)
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    candidates = np.stack([np.stack([t[..., 0], s01, s02, d21], -1),  # (..., 4 cases, 4)
                           np.stack([s01, t[..., 1], s12, d02], -1),
                           np.stack([s02, s12, t[..., 2], d10], -1),
                           np.stack([d21, d02, d10, t[..., 3]], -1)], -2)
    case = np.argmax(t, axis=-1)[..., None, None]
    q = np.take_along_axis(candidates, np.broadcast_to(case, (*case.shape[:-2], 1, 4)), -2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:] < 0, -q, q)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ⊗ b (apply b, then a), (..., 4) x, y, z, w each, broadcast; the result has w ≥ 0."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    q = np.stack([aw * bx + ax * bw + ay * bz - az * by,
                  aw * by - ax * bz + ay * bw + az * bx,
                  aw * bz + ax * by - ay * bx + az * bw,
                  aw * bw - ax * bx - ay * by - az * bz], -1)
    return np.where(q[..., 3:] < 0, -q, q)


def quaternion_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...,) radians of the rotation between `a` and `b` (..., 4): 2·acos|⟨a, b⟩|, in [0, π]."""
    dot = np.abs(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))
