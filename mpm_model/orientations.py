"""A quaternion per joint from a 3D H36M-17 skeleton (pure numpy, batched, never NaN): docs/ORIENTATIONS.md.

A robot that hands over an object or follows a pointing arm needs which way a limb faces, not only where its joints
are; Skeleton3D.orientations carries this. Every joint frame is right-handed with its z axis along the bone to its
child and its y axis towards the body's left, taken from a plane: the hips for the pelvis and spine, the shoulders
for the thorax and neck, the limb's own plane (upper and lower bone) for arms and legs — with a tenth of the
body's left added, so a straight limb (no plane) turns smoothly to the body's left. x = y × z (the torso's x faces
forward). Leaf joints (head, ankles, wrists) take their parent's frame.

Degenerate input never gives NaN: a bone shorter than MIN_BONE_M or not finite → the parent's frame (the pelvis':
identity); a y direction that is (nearly) along z → the next candidate: the parent's y, the parent's x, the
reference frame's x, then its y.
"""
from __future__ import annotations

import numpy as np

from mpm_model.rotations import matrix_to_quaternion, quaternion_angle

MIN_BONE_M = 1e-4  # shorter bones have no direction
MIN_PERPENDICULAR = 1e-3  # a y candidate must keep at least this much of itself across z
BODY_BLEND = 0.1  # weight of the body's left in a limb's twist reference (its plane normal has length sin(bend))

PELVIS, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 0, 1, 2, 3, 4, 5, 6
SPINE, THORAX, NECK, HEAD = 7, 8, 9, 10
L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST = 11, 12, 13, 14, 15, 16
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "torso (pelvis, spine, thorax, neck, head)": (PELVIS, SPINE, THORAX, NECK, HEAD),
    "legs (hips, knees, ankles)": (R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE),
    "arms (shoulders, elbows, wrists)": (L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST),
}
# joint: (bone from, bone to) — its z axis; leaf joints are absent (they copy their parent)
_BONES = {PELVIS: (PELVIS, SPINE), SPINE: (SPINE, THORAX), THORAX: (THORAX, NECK), NECK: (NECK, HEAD),
          R_HIP: (R_HIP, R_KNEE), R_KNEE: (R_KNEE, R_ANKLE), L_HIP: (L_HIP, L_KNEE), L_KNEE: (L_KNEE, L_ANKLE),
          L_SHOULDER: (L_SHOULDER, L_ELBOW), L_ELBOW: (L_ELBOW, L_WRIST),
          R_SHOULDER: (R_SHOULDER, R_ELBOW), R_ELBOW: (R_ELBOW, R_WRIST)}
_PARENT_FRAME = {SPINE: PELVIS, THORAX: SPINE, NECK: THORAX, HEAD: NECK, R_HIP: PELVIS, L_HIP: PELVIS,
                 R_KNEE: R_HIP, L_KNEE: L_HIP, R_ANKLE: R_KNEE, L_ANKLE: L_KNEE, L_SHOULDER: THORAX,
                 R_SHOULDER: THORAX, L_ELBOW: L_SHOULDER, R_ELBOW: R_SHOULDER, L_WRIST: L_ELBOW,
                 R_WRIST: R_ELBOW}
# limbs: (upper start, joint, lower end, sign of the plane normal that points left on a natural bend)
_LIMBS = {R_HIP: (R_HIP, R_KNEE, R_ANKLE, 1.0), L_HIP: (L_HIP, L_KNEE, L_ANKLE, 1.0),
          L_SHOULDER: (L_SHOULDER, L_ELBOW, L_WRIST, -1.0), R_SHOULDER: (R_SHOULDER, R_ELBOW, R_WRIST, -1.0)}
_ORDER = (PELVIS, SPINE, THORAX, NECK, HEAD, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE,
          L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST)  # parents first


def _unit(v: np.ndarray, min_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) → unit vectors (0 where unusable) and (...,) whether usable (finite, longer than min_norm)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    ok = np.isfinite(norm) & (norm > min_norm)
    return np.where(ok, v / np.where(ok, norm, 1.0), 0.0), ok[..., 0]


def _frame(z: np.ndarray, z_ok: np.ndarray, references: list[np.ndarray], parent: np.ndarray) -> np.ndarray:
    """(..., 3, 3) columns x, y, z: y = the first reference (then parent y, parent x, e_x, e_y) not along z;
    the parent's frame where z is unusable."""
    eye = np.broadcast_to(np.eye(3), parent.shape)
    candidates = [*references, parent[..., :, 1], parent[..., :, 0], eye[..., :, 0], eye[..., :, 1]]
    y, found = np.zeros_like(z), np.zeros(z.shape[:-1], bool)
    for candidate in candidates:
        candidate = np.nan_to_num(candidate, nan=0.0, posinf=0.0, neginf=0.0)
        across, ok = _unit(candidate - np.sum(candidate * z, -1, keepdims=True) * z, MIN_PERPENDICULAR)
        take = ok & ~found
        y, found = np.where(take[..., None], across, y), found | take
    frame = np.stack([np.cross(y, z), y, z], -1)  # (..., 3, 3)
    return np.where(z_ok[..., None, None], frame, parent)


def joint_frames(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) H36M-17 joints (any frame, any origin) → (..., 17, 3, 3) rotation of each joint's frame."""
    p = np.asarray(joints, np.float64)
    lead = p.shape[:-2]
    frames = np.empty((*lead, 17, 3, 3))
    identity = np.broadcast_to(np.eye(3), (*lead, 3, 3))
    hips = p[..., L_HIP, :] - p[..., R_HIP, :]  # body left, from the hips
    shoulders = p[..., L_SHOULDER, :] - p[..., R_SHOULDER, :]  # body left, from the shoulders
    for joint in _ORDER:
        parent = frames[..., _PARENT_FRAME[joint], :, :] if joint in _PARENT_FRAME else identity
        if joint not in _BONES:  # a leaf: its parent's frame
            frames[..., joint, :, :] = parent
            continue
        start, end = _BONES[joint]
        z, z_ok = _unit(p[..., end, :] - p[..., start, :], MIN_BONE_M)
        if joint in (PELVIS, SPINE):
            references = [hips]
        elif joint in (THORAX, NECK):
            references = [shoulders]
        else:
            top = joint if joint in _LIMBS else _PARENT_FRAME[joint]
            a, b, c, sign = _LIMBS[top]
            upper, lower = p[..., b, :] - p[..., a, :], p[..., c, :] - p[..., b, :]
            lengths = np.linalg.norm(upper, axis=-1, keepdims=True) * np.linalg.norm(lower, axis=-1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                normal = sign * np.cross(upper, lower) / lengths  # length sin(bend)
            body = frames[..., PELVIS if top in (R_HIP, L_HIP) else THORAX, :, 1]  # the body's left, never NaN
            references = [normal + BODY_BLEND * body, body]
        frames[..., joint, :, :] = _frame(z, z_ok, references, parent)
    return frames


def joint_orientations(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) → (..., 17, 4) x, y, z, w per joint, in the joints' frame (w ≥ 0, never NaN)."""
    return matrix_to_quaternion(joint_frames(joints))


def orientation_errors(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(..., 17, 3) skeletons each → (..., 17) radians between their joint orientations (same construction)."""
    return quaternion_angle(joint_orientations(predicted), joint_orientations(truth))
