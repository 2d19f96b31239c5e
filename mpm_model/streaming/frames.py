"""Skeletons in the frame the robot plans in (ROS-free): the rigid transform of a lifted batch, its parameters, and
the rules for frame names and transform ages. The node gets the transform from tf2 or from the static
`camera_to_target` extrinsic; applying it is the same pure function either way (docs/NODE.md, "Output frame").
`ground_frame` names the floor frame the node looks up for the ground plane (ground.floor_from_transform).

Placed skeletons are rotated and translated. Root-relative (NOT_PLACED) ones are only rotated: their pelvis stays at
the origin, but their axes are the target frame's (a z-up base frame shows them upright), and they are still
labelled NOT_PLACED — no translation is invented for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mpm_model.rotations import matrix_to_quaternion, quaternion_multiply, quaternion_problem, quaternion_to_matrix
from mpm_model.tunable import check, tunable

IDENTITY_POSE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
MAX_FRAME_CHARS = 256
_FRAME_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")


def frame_name_problem(name: str) -> str | None:
    """Why `name` is not a valid TF frame id (letters, digits, _ . - and / between parts; no leading /), or None."""
    if len(name) > MAX_FRAME_CHARS:
        return f"frame id of {len(name)} characters (at most {MAX_FRAME_CHARS})"
    if not _FRAME_NAME.fullmatch(name):
        return (f"{name[:40]!r} is not a valid TF frame id (letters, digits, '_', '.', '-', and '/' between parts; "
                "no leading '/', no spaces)")
    return None


def pose_problem(pose: tuple[float, ...]) -> str | None:
    """Why [x, y, z, qx, qy, qz, qw] is not a rigid pose (length, non-finite translation, bad quaternion), or None."""
    try:
        values = np.asarray(pose, np.float64)
    except (TypeError, ValueError):
        return f"{pose!r} is not numbers: [x, y, z, qx, qy, qz, qw]"
    if values.shape != (7,):
        return f"{values.size} values, expected 7: [x, y, z, qx, qy, qz, qw]"
    if not np.isfinite(values[:3]).all():
        return f"translation {values[:3].tolist()} is not finite"
    return quaternion_problem(values[3:])


def transform_age_problem(transform_stamp_ns: int, stamp_ns: int, max_age_s: float) -> str | None:
    """Why a transform stamped `transform_stamp_ns` must not place a skeleton of `stamp_ns`: further than
    `max_age_s` from it, older or newer (stamp 0 = a static transform, valid at any time), or None."""
    if transform_stamp_ns == 0:
        return None
    age_s = (stamp_ns - transform_stamp_ns) * 1e-9
    if abs(age_s) <= max_age_s:
        return None
    return f"transform {abs(age_s):.3f} s {'older' if age_s > 0 else 'newer'} than the skeleton (tf_max_age " \
        f"{max_age_s:g} s)"


@dataclass(frozen=True)
class FrameOptions:
    """Where the outputs are expressed (docs/NODE.md, "Output frame"); all checked by `problem()` as well."""

    target_frame: str = tunable("", "Frame the skeletons, markers and TF frames are published in (e.g. base_link); "
                                "empty = the keypoints' frame (header.frame_id or output_frame_id), untransformed")
    camera_to_target: tuple = tunable(IDENTITY_POSE, "Static pose of the keypoints' frame in target_frame, [x, y, z, "
                                      "qx, qy, qz, qw] (metres, unit quaternion); used when tf_lookup is false")
    tf_lookup: bool = tunable(False, "Look the keypoints' frame up in target_frame with tf2 at each skeleton's stamp "
                              "instead of camera_to_target (a real ROS install; a failed lookup drops the skeleton, "
                              "counted dropped.tf_lookup_failed)")
    tf_timeout: float = tunable(0.05, "Longest the inference worker waits (s) for a tf2 transform at a skeleton's "
                                "stamp", 0.0, 1.0)
    tf_max_age: float = tunable(0.1, "When tf2 has no transform at a skeleton's stamp, its latest one is used only "
                                "if its stamp is at most this far (s) from the skeleton's (else dropped.tf_too_old); "
                                "static transforms always are", 0.0, 10.0)
    ground_frame: str = tunable("base_footprint", "Floor frame for ground_plane (REP 105: base_footprint, on the floor, z up), "
                                "looked up with tf2 in the keypoints' frame at each frame's stamp without waiting "
                                "(else its latest within tf_max_age); used when ground_camera_height is 0; a failed "
                                "lookup: no floor for that frame (counted ground.tf_missing); without tf2_ros a "
                                "warning and no floor; empty = none")
    publish_tf: bool = tunable(False, "Broadcast one TF frame per joint per placed track on /tf (body_<id>, "
                               "r_wrist_<id>, ...: docs/ORIENTATIONS.md), parented to the output frame")

    def __post_init__(self) -> None:
        check(self)

    def problem(self) -> str | None:
        """Why these options cannot be used together (bad frame names or pose; a target frame with no way to reach
        it), or None."""
        for field_name, frame in (("target_frame", self.target_frame), ("ground_frame", self.ground_frame)):
            name = frame_name_problem(frame) if frame else None
            if name:
                return f"{field_name}: {name}"
        pose = pose_problem(tuple(self.camera_to_target))
        if pose:
            return f"camera_to_target: {pose}"
        if self.target_frame and not self.tf_lookup and tuple(self.camera_to_target) == IDENTITY_POSE:
            return (f"target_frame={self.target_frame!r} with neither tf_lookup nor camera_to_target: set "
                    "camera_to_target (the keypoints' frame's pose in target_frame) or tf_lookup: true (to only "
                    "rename the frame, use output_frame_id)")
        return None


@dataclass(frozen=True)
class Transform:
    """A rigid transform: p_target = rotation @ p_source + translation."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) metres

    @staticmethod
    def from_pose(pose: tuple[float, ...]) -> Transform:
        """[x, y, z, qx, qy, qz, qw]: the source frame's pose in the target frame (as a TF transform reads)."""
        values = np.asarray(pose, np.float64)
        return Transform(quaternion_to_matrix(values[3:]), values[:3].copy())

    @property
    def quaternion(self) -> np.ndarray:
        return matrix_to_quaternion(self.rotation)  # (4,) x, y, z, w

    def inverse(self) -> Transform:
        return Transform(self.rotation.T, -self.rotation.T @ self.translation)

    def then(self, other: Transform) -> Transform:
        """This transform followed by `other`."""
        return Transform(other.rotation @ self.rotation, other.rotation @ self.translation + other.translation)


@dataclass(frozen=True)
class Framed:
    """A batch expressed in another frame; optional parts are None when not given."""

    joints: np.ndarray  # (B, J, 3)
    orientations: np.ndarray | None  # (B, J, 4) x, y, z, w
    root_velocity: np.ndarray | None  # (B, 3) m/s
    root_covariance: np.ndarray | None  # (B, 3, 3) m²


def to_frame(transform: Transform, joints: np.ndarray, placed: np.ndarray, orientations: np.ndarray | None = None,
             root_velocity: np.ndarray | None = None, root_covariance: np.ndarray | None = None) -> Framed:
    """Express a lifted batch in the target frame: placed skeletons (B,) are rotated and translated, root-relative
    ones only rotated; orientations turn with the frame (q_T ⊗ q), the root velocity is rotated (a direction) and
    the root covariance becomes R Σ Rᵀ. NaN (unknown) stays NaN."""
    r, t = transform.rotation, transform.translation
    moved = np.asarray(joints, np.float64) @ r.T  # (B, J, 3)
    moved = moved + np.where(np.asarray(placed, bool)[:, None, None], t, 0.0)
    turned = None if orientations is None else quaternion_multiply(transform.quaternion, orientations)
    velocity = None if root_velocity is None else np.asarray(root_velocity, np.float64) @ r.T  # (B, 3)
    covariance = None if root_covariance is None else r @ np.asarray(root_covariance, np.float64) @ r.T  # (B, 3, 3)
    return Framed(moved, turned, velocity, covariance)
