"""Virtual cameras: hand-computed projection, look-at geometry, sampling ranges, screen normalisation."""
import numpy as np
import pytest
import torch

from mpm_model.data.camera import (VirtualCamera, normalize_screen, project, sample_camera, unnormalize_screen,
                                   world_to_camera)


def test_project_hand_computed():
    cam = VirtualCamera(1000.0, 1000.0, 500.0, 500.0, 1000, 1000, np.eye(3), np.zeros(3))
    uv = project(np.array([[0.5, -0.25, 2.0], [0.0, 0.0, 4.0]]), cam)
    # u = 1000 * 0.5 / 2 + 500 = 750, v = 1000 * -0.25 / 2 + 500 = 375
    np.testing.assert_allclose(uv, [[750.0, 375.0], [500.0, 500.0]])
    with pytest.raises(ValueError, match="behind the camera"):
        project(np.array([0.0, 0.0, -1.0]), cam)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        project(np.zeros((4, 2)), cam)


def test_world_to_camera_hand_computed():
    # Camera at world (0, -5, 1) looking along +y (world z up): right = +x, down = -z, forward = +y.
    rotation = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    cam = VirtualCamera(1.0, 1.0, 0.0, 0.0, 2, 2, rotation, -rotation @ np.array([0.0, -5.0, 1.0]))
    np.testing.assert_allclose(world_to_camera(np.array([1.0, 0.0, 2.0]), cam), [1.0, -1.0, 5.0])
    np.testing.assert_allclose(cam.center, [0.0, -5.0, 1.0])
    with pytest.raises(ValueError):
        VirtualCamera(1.0, 1.0, 0.0, 0.0, 2, 2, 2 * np.eye(3), np.zeros(3))


def test_sample_camera_like_h36m():
    rng = np.random.default_rng(0)
    target = np.array([1.0, 2.0, 0.9])
    for _ in range(200):
        cam = sample_camera(rng, target)
        offset = cam.center - target
        distance = np.linalg.norm(offset)
        elevation = np.degrees(np.arcsin(offset[2] / distance))
        assert 3.0 <= distance <= 7.0 and -10.0 <= elevation <= 30.0
        assert 1145 * 0.95 <= cam.fx <= 1145 * 1.05 and (cam.width, cam.height) == (1000, 1000)
        np.testing.assert_allclose(project(world_to_camera(target, cam), cam), [500.0, 500.0], atol=1e-6)
        head = world_to_camera(target + [0, 0, 0.8], cam)
        assert head[1] < 0  # world up is image up (camera y points down)
    a = sample_camera(np.random.default_rng(5), target)
    b = sample_camera(np.random.default_rng(5), target)
    np.testing.assert_array_equal(a.rotation, b.rotation)


def test_normalize_screen():
    uv = np.array([[0.0, 0.0], [1000.0, 500.0], [500.0, 250.0]])
    xy = normalize_screen(uv, 1000, 500)
    np.testing.assert_allclose(xy, [[-1.0, -0.5], [1.0, 0.5], [0.0, 0.0]])  # uv / w * 2 - [1, h / w]
    np.testing.assert_allclose(unnormalize_screen(xy, 1000, 500), uv)
    t = normalize_screen(torch.tensor(uv, dtype=torch.float32), 1000, 500)
    assert isinstance(t, torch.Tensor) and torch.allclose(unnormalize_screen(t, 1000, 500), torch.tensor(uv).float())
    with pytest.raises(ValueError):
        normalize_screen(np.zeros((3, 3)), 1000, 500)


def test_robot_cameras_stay_in_their_ranges():
    from mpm_model.data.camera import ROBOT_IMAGE_SIZES, sample_robot_camera

    rng = np.random.default_rng(0)
    target = np.array([1.0, 2.0, 0.95])
    for _ in range(200):
        cam = sample_robot_camera(rng, target)
        assert (cam.width, cam.height) in ROBOT_IMAGE_SIZES
        hfov = np.degrees(2 * np.arctan(cam.width / 2 / cam.fx))
        assert 55.0 - 1e-6 <= hfov <= 90.0 + 1e-6
        assert 0.3 <= cam.center[2] <= 2.0
        assert 1.5 - 1e-6 <= np.linalg.norm(cam.center[:2] - target[:2]) <= 10.0 + 1e-6
        pitch = np.degrees(np.arcsin(cam.rotation[2, 2]))  # rotation row 2 = optical axis in the world
        assert abs(pitch) <= 30.0 + 1e-6
        assert world_to_camera(target, cam)[2] > 0  # the person is in front


def test_keep_in_front_backs_off_along_the_axis():
    from mpm_model.data.camera import keep_in_front

    cam = sample_camera(np.random.default_rng(3), np.zeros(3), distance=(3.0, 3.0))
    behind = cam.center * (1.0 + 1.0 / np.linalg.norm(cam.center))  # 1 m behind the lens, on its axis
    moved = keep_in_front(cam, np.stack([np.zeros(3), behind]), min_depth=0.3)
    assert world_to_camera(behind, moved)[2] == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(moved.rotation, cam.rotation)
    assert keep_in_front(cam, np.zeros((1, 3))) is cam  # nothing to fix
