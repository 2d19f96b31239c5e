"""Augmentation and synthetic detector errors: flips, bone scaling, noise, occlusion masks."""
import numpy as np
import pytest

from mpm_model.data.augment import random_bone_scales, scale_bones
from mpm_model.data.camera import normalize_screen, project, sample_camera, world_to_camera
from mpm_model.data.occlusion import detector_noise, occlusion_mask
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.skeleton import H36M_PARENTS, flip_mask, flip_pose


@pytest.fixture(scope="module")
def poses():
    return synthetic_sequences(1, 30, seed=2)[0].poses3d


def _bone_lengths(p):
    return np.stack([np.linalg.norm(p[..., c, :] - p[..., q, :], axis=-1) for c, q in enumerate(H36M_PARENTS) if q >= 0], -1)


def test_flip_twice_is_identity_and_swaps_sides(poses):
    flipped = flip_pose(poses)
    np.testing.assert_array_equal(flip_pose(flipped), poses)
    np.testing.assert_array_equal(flipped[:, 4, 0], -poses[:, 1, 0])  # left hip ← mirrored right hip
    np.testing.assert_array_equal(flipped[:, 0], poses[:, 0] * [-1, 1, 1])
    mask = np.zeros((2, 17), bool)
    mask[0, 13] = True  # left wrist
    assert flip_mask(mask)[0, 16] and flip_mask(flip_mask(mask)).tolist() == mask.tolist()
    with pytest.raises(ValueError):
        flip_pose(np.zeros((4, 16, 3)))


def test_flip_consistent_between_2d_and_3d(poses):
    cam = sample_camera(np.random.default_rng(1), poses[0, 0])
    cam_poses = world_to_camera(poses, cam)
    flipped_2d = normalize_screen(project(flip_pose(cam_poses), cam), cam.width, cam.height)
    np.testing.assert_allclose(flipped_2d, flip_pose(normalize_screen(project(cam_poses, cam), cam.width, cam.height)), atol=1e-5)


def test_bone_scaling_keeps_topology(poses):
    scales = np.ones(17)
    scales[2] = 1.5  # right thigh (bone ending at the right knee)
    scaled = scale_bones(poses, scales)
    lengths, new = _bone_lengths(poses), _bone_lengths(scaled)
    np.testing.assert_allclose(new[:, 1], 1.5 * lengths[:, 1], rtol=1e-5)
    np.testing.assert_allclose(np.delete(new, 1, axis=1), np.delete(lengths, 1, axis=1), rtol=1e-5)
    # the shank moved rigidly with the knee: same direction
    np.testing.assert_allclose(scaled[:, 3] - scaled[:, 2], poses[:, 3] - poses[:, 2], atol=1e-6)
    np.testing.assert_allclose(scaled[:, [0, 4, 5, 6, 7]], poses[:, [0, 4, 5, 6, 7]], atol=1e-6)
    random_scaled = scale_bones(poses, random_bone_scales(np.random.default_rng(0)))
    ratio = _bone_lengths(random_scaled) / _bone_lengths(poses)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-4)  # same every frame
    np.testing.assert_allclose(ratio[0, [3, 4, 5]], ratio[0, [0, 1, 2]], rtol=1e-5)  # left = right
    with pytest.raises(ValueError):
        scale_bones(poses, np.ones(5))


def test_detector_noise():
    rng = np.random.default_rng(0)
    uv = np.full((2000, 17, 2), 500.0)
    noisy = detector_noise(uv, rng, sigma_px=2.0, outlier_prob=0.0)
    assert abs((noisy - uv).std() - 2.0) < 0.05
    with_outliers = detector_noise(uv, rng, sigma_px=0.0, outlier_prob=0.05, outlier_px=40.0)
    moved = np.abs(with_outliers - uv).max(-1) > 0
    assert abs(moved.mean() - 0.05) < 0.005
    with pytest.raises(ValueError):
        detector_noise(uv, rng, sigma_px=-1.0)


@pytest.mark.parametrize("kinds", [("joints", "limbs", "frames"), ("limbs",), ("frames",), ("joints",)])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.4, 0.9])
def test_occlusion_ratio(kinds, ratio):
    rng = np.random.default_rng(7)
    T, J = 81, 17
    for _ in range(5):
        mask = occlusion_mask(rng, T, J, ratio, kinds)
        assert mask.shape == (T, J) and mask.dtype == bool
        assert abs(mask.mean() - ratio) < 1.0 / T  # overshoot is below one frame's worth of joints
    if kinds == ("frames",):
        assert ((mask.all(axis=1)) | (~mask.any(axis=1))).all()  # whole frames only


def test_occlusion_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        occlusion_mask(rng, 10, 17, 1.5)
    with pytest.raises(ValueError):
        occlusion_mask(rng, 10, 17, 0.2, kinds=("teeth",))
    with pytest.raises(ValueError):
        occlusion_mask(rng, 10, 5, 0.2, kinds=("limbs",))
