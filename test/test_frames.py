"""Output frames without ROS: quaternions, the rigid transform of a lifted batch (the issue's example extrinsic,
round trips, root-relative skeletons, velocity and covariance), and the rules for poses, frame names and ages."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.rotations import (matrix_to_quaternion, quaternion_angle, quaternion_multiply, quaternion_problem,
                                 quaternion_to_matrix)
from mpm_model.streaming.frames import (IDENTITY_POSE, FrameOptions, Transform, frame_name_problem, pose_problem,
                                        to_frame, transform_age_problem)

EXAMPLE = (0.1, 0.0, 1.2, -0.5, 0.5, -0.5, 0.5)  # an optical frame 1.2 m up looking along the robot's +x


def random_quaternions(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[:, 3:] < 0, -q, q)


def test_quaternion_matrix_round_trip_and_product() -> None:
    q = random_quaternions(500)
    r = quaternion_to_matrix(q)
    assert np.allclose(r @ np.swapaxes(r, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(r), 1.0)
    assert np.allclose(matrix_to_quaternion(r), q, atol=1e-12)
    a, b = q[:250], q[250:]
    product = quaternion_to_matrix(a) @ quaternion_to_matrix(b)
    assert np.allclose(quaternion_to_matrix(quaternion_multiply(a, b)), product)
    assert np.allclose(quaternion_angle(a, a), 0.0, atol=1e-6)
    half_turn = np.array([0.0, 0.0, 1.0, 0.0])
    assert quaternion_angle(np.array([0.0, 0.0, 0.0, 1.0]), half_turn) == pytest.approx(np.pi)


def test_the_example_extrinsic_of_the_issue() -> None:
    """Optical axes (x right, y down, z forward) of a camera 1.2 m up looking along +x → base x forward, z up."""
    t = Transform.from_pose(EXAMPLE)
    assert np.allclose(t.rotation @ [0, 0, 1], [1, 0, 0])  # optical forward = robot forward
    assert np.allclose(t.rotation @ [1, 0, 0], [0, -1, 0])  # optical right = robot right (−y)
    assert np.allclose(t.rotation @ [0, 1, 0], [0, 0, -1])  # optical down = robot down
    # a pelvis 3 m in front of the camera, 0.2 m below its axis → 3.1 m ahead of base_link, 1.0 m up
    framed = to_frame(t, np.array([[[0.0, 0.2, 3.0]]]), np.array([True]))
    assert np.allclose(framed.joints[0, 0], [3.1, 0.0, 1.0])


def test_round_trip_and_composition() -> None:
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(4, 17, 3))
    a = Transform.from_pose((0.3, -1.0, 2.0, *random_quaternions(1, 3)[0]))
    b = Transform.from_pose(EXAMPLE)
    placed = np.ones(4, bool)
    back = to_frame(a.inverse(), to_frame(a, joints, placed).joints, placed).joints
    assert np.allclose(back, joints)
    both = to_frame(b, to_frame(a, joints, placed).joints, placed).joints
    assert np.allclose(to_frame(a.then(b), joints, placed).joints, both)


def test_root_relative_skeletons_are_only_rotated_and_extras_turn_with_the_frame() -> None:
    t = Transform.from_pose(EXAMPLE)
    joints = np.random.default_rng(2).normal(size=(2, 17, 3))
    joints -= joints[:, :1]  # root-relative
    orientations = np.broadcast_to(random_quaternions(17, 4), (2, 17, 4))
    velocity = np.array([[0.0, 0.0, 1.0], [np.nan, np.nan, np.nan]])  # walking along the optical axis; unknown
    covariance = np.stack([np.diag([0.01, 0.04, 0.09]), np.full((3, 3), np.nan)])
    framed = to_frame(t, joints, np.array([True, False]), orientations, velocity, covariance)
    assert np.allclose(framed.joints[1, 0], 0.0)  # the unplaced pelvis stays at the origin
    assert np.allclose(framed.joints[1], joints[1] @ t.rotation.T)
    assert np.allclose(framed.joints[0, 0], joints[0, 0] @ t.rotation.T + t.translation)
    assert np.allclose(framed.root_velocity[0], [1.0, 0.0, 0.0])  # rotated, not translated
    assert np.isnan(framed.root_velocity[1]).all() and np.isnan(framed.root_covariance[1]).all()
    assert np.allclose(np.diag(framed.root_covariance[0]), [0.09, 0.01, 0.04])  # depth variance now along x
    assert np.allclose(quaternion_to_matrix(framed.orientations), t.rotation @ quaternion_to_matrix(orientations))


@pytest.mark.parametrize("pose, words", [
    ((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0001), None),
    ((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0), "norm"),
    ((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), "norm"),
    ((0.0, 0.0, 0.0, np.nan, 0.0, 0.0, 1.0), "finite"),
    ((np.inf, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), "not finite"),
    ((0.0, np.nan, 0.0, 0.0, 0.0, 0.0, 1.0), "not finite"),
    ((0.0, 0.0, 0.0, 1.0), "expected 7"),
    (("a",) * 7, "not numbers"),
])
def test_pose_problems(pose, words) -> None:
    problem = pose_problem(pose)
    assert (problem is None) if words is None else (words in problem)


def test_quaternion_problem_needs_four_finite_unit_numbers() -> None:
    assert quaternion_problem((0.0, 0.0, 0.7071, 0.7071)) is None
    assert "4 finite" in quaternion_problem((0.0, 0.0, 1.0))


@pytest.mark.parametrize("name, valid", [
    ("base_link", True), ("robot1/base_link", True), ("camera.optical-frame", True), ("map", True),
    ("", False), ("/base_link", False), ("base link", False), ("base_link/", False), ("a//b", False),
    ("tab\tframe", False), ("x" * 300, False), ("ümlaut", False),
])
def test_frame_names(name: str, valid: bool) -> None:
    assert (frame_name_problem(name) is None) is valid


def test_transform_age() -> None:
    skeleton = 10_000_000_000
    assert transform_age_problem(skeleton - 50_000_000, skeleton, 0.1) is None
    assert "older" in transform_age_problem(skeleton - 150_000_000, skeleton, 0.1)
    assert "newer" in transform_age_problem(skeleton + 150_000_000, skeleton, 0.1)
    assert transform_age_problem(0, skeleton, 0.1) is None  # static: valid at any time


def test_frame_options_problems() -> None:
    assert FrameOptions().problem() is None
    assert FrameOptions(target_frame="base_link", camera_to_target=EXAMPLE).problem() is None
    assert FrameOptions(target_frame="base_link", tf_lookup=True).problem() is None
    assert "neither tf_lookup nor camera_to_target" in FrameOptions(target_frame="base_link").problem()
    assert "target_frame" in FrameOptions(target_frame="/base_link", camera_to_target=EXAMPLE).problem()
    assert "camera_to_target" in FrameOptions(camera_to_target=(0.0,) * 7).problem()
    assert FrameOptions().camera_to_target == IDENTITY_POSE
    with pytest.raises(ValueError, match="tf_timeout"):
        FrameOptions(tf_timeout=-1.0)
