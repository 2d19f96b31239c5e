"""placement: the least-squares root translation recovers a known translation exactly from a clean projection."""
import numpy as np
import pytest

from mpm_model.streaming.placement import estimate_root_translation, root_translations

K = np.array([[1145.0, 0, 512.0], [0, 1140.0, 500.0], [0, 0, 1]])


def skeleton(seed: int = 0) -> np.ndarray:
    joints = np.random.default_rng(seed).normal(scale=0.4, size=(17, 3))
    return joints - joints[0]  # root-relative


def project(points: np.ndarray) -> np.ndarray:
    return points[:, :2] / points[:, 2:3] * [K[0, 0], K[1, 1]] + K[:2, 2]


@pytest.mark.parametrize("translation", [(0.3, -0.2, 4.0), (-1.5, 0.4, 7.5), (0.0, 0.0, 2.0)])
def test_recovers_known_translation(translation) -> None:
    joints = skeleton()
    pixels = project(joints + translation)
    weights = np.random.default_rng(2).uniform(0.2, 1.0, 17)
    np.testing.assert_allclose(estimate_root_translation(joints, pixels, weights, K), translation, atol=1e-9)


def test_masked_joints_are_ignored() -> None:
    joints = skeleton(1)
    pixels = project(joints + (0.5, 0.1, 5.0))
    weights = np.ones(17)
    pixels[:8] = [1e4, -1e4]  # garbage where masked
    weights[:8] = 0.0
    np.testing.assert_allclose(estimate_root_translation(joints, pixels, weights, K), (0.5, 0.1, 5.0), atol=1e-9)


def test_too_few_joints_or_behind_camera_gives_none() -> None:
    joints = skeleton()
    pixels = project(joints + (0, 0, 3.0))
    one_joint = np.zeros(17)
    one_joint[4] = 1.0
    assert estimate_root_translation(joints, pixels, one_joint, K) is None
    tiny = joints * 0.01
    too_close = project(tiny + (0, 0, 0.05))  # root 5 cm in front of the lens: below MIN_DEPTH_M
    assert estimate_root_translation(tiny, too_close, np.ones(17), K) is None
    with pytest.raises(ValueError):
        estimate_root_translation(joints, pixels[:5], np.ones(17), K)


def test_batch_leaves_unplaceable_root_relative() -> None:
    joints = np.stack([skeleton(0), skeleton(1)])
    pixels = np.stack([project(joints[0] + (0, 0, 4.0)), project(joints[1] + (0, 0, 4.0))])
    weights = np.stack([np.ones(17), np.zeros(17)])
    translation, ok = root_translations(joints, pixels, weights, K)
    placed = joints + translation[:, None]
    assert ok.tolist() == [True, False]
    np.testing.assert_allclose(placed[0], joints[0] + (0, 0, 4.0), atol=1e-9)
    np.testing.assert_array_equal(placed[1], joints[1])


def _lstsq_translation(joints, pixels, weights):
    """The per-track weighted least squares the batched solve replaces (numpy's lstsq, rank-checked)."""
    use = weights > 0
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = joints[use].T
    du, dv = pixels[use, 0] - cx, pixels[use, 1] - cy
    rows = np.concatenate([np.stack([fx + 0 * du, 0 * du, -du], 1), np.stack([0 * dv, fy + 0 * dv, -dv], 1)])
    sqrt_w = np.sqrt(np.tile(weights[use], 2))
    solution, _, rank, _ = np.linalg.lstsq(rows * sqrt_w[:, None], np.concatenate([du * z - fx * x, dv * z - fy * y])
                                           * sqrt_w, rcond=None)
    return solution if rank == 3 and use.sum() >= 2 and solution[2] >= 0.1 else None


def test_batched_solve_matches_per_track_least_squares_on_noisy_tracks() -> None:
    rng = np.random.default_rng(5)
    joints = np.stack([skeleton(s) for s in range(12)])
    truth = np.column_stack([rng.uniform(-2, 2, 12), rng.uniform(-1, 1, 12), rng.uniform(1.5, 9, 12)])
    pixels = np.stack([project(j + t) for j, t in zip(joints, truth)]) + rng.normal(0, 3.0, (12, 17, 2))
    weights = rng.uniform(0.3, 1.0, (12, 17)) * (rng.random((12, 17)) > 0.3)
    weights[3] = 0.0
    weights[4, 1:] = 0.0  # one joint: unsolvable
    translation, solved = root_translations(joints, pixels, weights, K)
    for b in range(12):
        expected = _lstsq_translation(joints[b], pixels[b], weights[b])
        assert solved[b] == (expected is not None)
        if expected is not None:
            np.testing.assert_allclose(translation[b], expected, rtol=1e-7, atol=1e-9)
    assert not solved[3] and not solved[4]
