"""Joint orientations and the per-person TF tree without ROS: the documented axes on hand-made skeletons
(docs/ORIENTATIONS.md), leaf joints, equivariance, degenerate and NaN input, frame names and the tree's chain."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.orientations import joint_frames, joint_orientations, orientation_errors
from mpm_model.rotations import quaternion_to_matrix
from mpm_model.streaming.person_frames import JOINT_FRAMES, frame_names, person_frames
from test_frames import random_quaternions


def standing() -> np.ndarray:
    """(17, 3) a person facing +x, z up, left elbow bent 90° forward, right arm hanging straight."""
    return np.array([
        [0, 0, 1.0], [0, -0.1, 1.0], [0, -0.1, 0.55], [0, -0.1, 0.1], [0, 0.1, 1.0], [0, 0.1, 0.55], [0, 0.1, 0.1],
        [0, 0, 1.25], [0, 0, 1.5], [0.05, 0, 1.6], [0, 0, 1.75],
        [0, 0.2, 1.5], [0, 0.2, 1.2], [0.3, 0.2, 1.2], [0, -0.2, 1.5], [0, -0.2, 1.2], [0, -0.2, 0.9]])


FORWARD, LEFT, UP = np.eye(3)


def axes(frames: np.ndarray, joint: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return frames[joint, :, 0], frames[joint, :, 1], frames[joint, :, 2]


def test_torso_frames_face_forward_with_z_up() -> None:
    f = joint_frames(standing())
    for joint in (0, 7):  # pelvis, spine
        assert np.allclose(f[joint], np.eye(3)), joint
    x, y, z = axes(f, 8)  # thorax → neck (the nose in this data: forward of the thorax), y from the shoulders
    assert np.allclose(y, LEFT) and np.allclose(z, np.array([0.05, 0, 0.1]) / np.hypot(0.05, 0.1))
    x, y, z = axes(f, 9)  # neck → head: tilted back, still facing forward, left kept
    assert np.allclose(y, LEFT) and z[2] > 0.9 and x[0] > 0.9
    assert np.allclose(f[10], f[9])  # head: a leaf, its parent's


@pytest.mark.parametrize("hip, knee, ankle", [(1, 2, 3), (4, 5, 6)])
def test_straight_legs_point_down_with_y_to_the_body_left(hip, knee, ankle) -> None:
    f = joint_frames(standing())
    for joint in (hip, knee):
        x, y, z = axes(f, joint)
        assert np.allclose(z, -UP) and np.allclose(y, LEFT) and np.allclose(x, -FORWARD)
    assert np.allclose(f[ankle], f[knee])


def test_a_bent_limb_takes_its_twist_from_its_plane() -> None:
    skeleton = standing()
    f = joint_frames(skeleton)
    x, y, z = axes(f, 11)  # left shoulder: upper arm down, bent forward at the elbow → y left
    assert np.allclose(z, -UP) and np.allclose(y, LEFT)
    x, y, z = axes(f, 12)  # left elbow: forearm forward
    assert np.allclose(z, FORWARD) and np.allclose(y, LEFT) and np.allclose(x, -UP)
    assert np.allclose(f[13], f[12])  # wrist: the elbow's
    skeleton[13] = [0.0, 0.5, 1.2]  # the forearm swung out sideways: the arm's plane now faces forward
    x, y, z = axes(joint_frames(skeleton), 11)
    assert np.allclose(z, -UP) and y[0] < -0.99  # the plane's normal (backward) wins over the body's left


def test_orientations_turn_with_the_skeleton() -> None:
    skeleton = standing() + np.random.default_rng(0).normal(scale=0.03, size=(17, 3))
    rotation = quaternion_to_matrix(random_quaternions(1, 5)[0])
    moved = skeleton @ rotation.T + [1.0, -2.0, 3.0]
    assert np.allclose(joint_frames(moved), rotation @ joint_frames(skeleton))
    assert np.allclose(orientation_errors(moved @ rotation, skeleton + [[1.0, 0, 0]]), 0.0, atol=1e-6)


def test_batched_and_unit() -> None:
    batch = standing() + np.random.default_rng(1).normal(scale=0.05, size=(4, 6, 17, 3))
    q = joint_orientations(batch)
    assert q.shape == (4, 6, 17, 4) and np.allclose(np.linalg.norm(q, axis=-1), 1.0) and (q[..., 3] >= 0).all()
    assert np.allclose(q[2, 3], joint_orientations(batch[2, 3]))


def test_degenerate_and_nan_input_never_give_nan() -> None:
    assert np.allclose(joint_orientations(np.zeros((17, 3))), [0, 0, 0, 1])  # nothing usable: identity
    assert np.allclose(joint_orientations(np.full((17, 3), np.nan)), [0, 0, 0, 1])
    skeleton = standing()
    skeleton[12] = np.nan  # the left elbow unknown: the upper arm and the forearm have no direction
    f = joint_frames(skeleton)
    assert np.isfinite(f).all()
    assert np.allclose(f[11], f[8]) and np.allclose(f[12], f[11])  # shoulder → the thorax', elbow → shoulder's
    skeleton = standing()
    skeleton[[1, 4]] = skeleton[0]  # no hip line: the pelvis' y comes from the next candidate, still orthonormal
    f = joint_frames(skeleton)
    assert np.allclose(f[0] @ f[0].T, np.eye(3)) and np.allclose(f[0][:, 2], UP)


def test_frame_names_follow_ros4hri() -> None:
    names = frame_names(7)
    assert names[0] == "body_7" and "r_wrist_7" in names and "l_knee_7" in names and "head_7" in names
    assert len(set(JOINT_FRAMES)) == 17


def test_person_frames_chain_back_to_the_skeleton() -> None:
    skeleton = standing() + [2.0, 0.5, 0.0]
    joints = np.stack([skeleton, skeleton + [1.0, 0, 0], skeleton])  # (3, 17, 3)
    q = joint_orientations(joints)
    frames = person_frames("base_link", [4, 5, 6], joints, q, np.array([True, False, True]))
    assert len(frames.child) == 34 and "body_5" not in frames.child  # the root-relative track gets none
    assert frames.parent[0] == "base_link" and frames.child[0] == "body_4"
    assert frames.parent[frames.child.index("r_wrist_6")] == "r_elbow_6"
    poses = {"base_link": (np.eye(3), np.zeros(3))}
    for parent, child, t, r in zip(frames.parent, frames.child, frames.translation, frames.rotation):
        rotation, origin = poses[parent]
        poses[child] = (rotation @ quaternion_to_matrix(r), rotation @ t + origin)
    for j, name in enumerate(frame_names(6)):
        assert np.allclose(poses[name][1], joints[2, j]) and np.allclose(poses[name][0], quaternion_to_matrix(q[2, j]))
