"""A TF tree per person (ROS-free): the parent → child transforms of every joint of every placed track, named as
ros4hri (REP-155) names body parts: `body_<id>` is the pelvis' frame, child of the output frame; each other joint
`<part>_<id>` is the child of its skeleton parent (docs/ORIENTATIONS.md lists the names). mpm_ros.tf_output turns
them into geometry_msgs/TransformStamped. Root-relative (NOT_PLACED) skeletons get no frames: a body frame at the
output frame's origin would say the person stands there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mpm_model.rotations import quaternion_multiply, quaternion_to_matrix
from mpm_model.skeleton import H36M_PARENTS

# H36M-17 order; ros4hri's names where it has the part (body, waist, torso, head, l_/r_ limbs), `neck` otherwise
JOINT_FRAMES: tuple[str, ...] = (
    "body", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "waist", "torso", "neck", "head",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")


@dataclass(frozen=True)
class PersonFrames:
    """Every frame of one batch: row k is `child[k]` in `parent[k]`."""

    parent: tuple[str, ...]
    child: tuple[str, ...]
    translation: np.ndarray  # (K, 3) metres, in the parent frame
    rotation: np.ndarray  # (K, 4) x, y, z, w


def frame_names(track_id: int) -> tuple[str, ...]:
    """The 17 frame names of one track, in joint order."""
    return tuple(f"{name}_{int(track_id)}" for name in JOINT_FRAMES)


def person_frames(output_frame: str, track_ids: Sequence[int], joints: np.ndarray, orientations: np.ndarray,
                  placed: np.ndarray) -> PersonFrames:
    """(B, J, 3) joints and (B, J, 4) orientations in `output_frame`, (B,) placed → the frames of the placed
    tracks: body_<id> in the output frame, each joint in its parent joint's frame (p = R_parentᵀ (x − x_parent),
    q = q_parent⁻¹ ⊗ q)."""
    keep = np.flatnonzero(np.asarray(placed, bool))
    x, q = np.asarray(joints, np.float64)[keep], np.asarray(orientations, np.float64)[keep]  # (P, J, 3), (P, J, 4)
    parents = np.array([max(p, 0) for p in H36M_PARENTS])
    r_parent = quaternion_to_matrix(q[:, parents])  # (P, J, 3, 3)
    local = np.einsum("pjba,pjb->pja", r_parent, x - x[:, parents])  # R_parentᵀ (x − x_parent)
    inverse = q[:, parents] * np.array([-1.0, -1.0, -1.0, 1.0])
    rotation = quaternion_multiply(inverse, q)  # (P, J, 4)
    local[:, 0], rotation[:, 0] = x[:, 0], q[:, 0]  # the body frame: in the output frame
    parent_names, child_names = [], []
    for b in keep:
        names = frame_names(track_ids[b])
        child_names += names
        parent_names += [output_frame, *(names[p] for p in H36M_PARENTS[1:])]
    return PersonFrames(tuple(parent_names), tuple(child_names), local.reshape(-1, 3), rotation.reshape(-1, 4))
