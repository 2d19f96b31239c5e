"""Metrics against values computed by hand (see the comments for each derivation)."""
import numpy as np
import pytest
import torch

from mpm_model.metrics import acceleration, auc, mpjpe, n_mpjpe, p_mpjpe, pck, procrustes_align, velocity_error


def test_mpjpe_hand():
    gt = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])
    assert mpjpe(np.zeros_like(gt), gt) == pytest.approx(3.0)  # (5 + 1) / 2
    assert mpjpe(torch.zeros(1, 2, 3), torch.tensor(gt)) == pytest.approx(3.0)


def test_p_mpjpe_similarity_is_free():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 17, 3))
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pred = 2.5 * gt @ rot.T + [1.0, -2.0, 3.0]
    assert p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(pred, gt) > 1.0
    mirrored = gt * [-1.0, 1.0, 1.0]  # a reflection is not a rotation: it must not be aligned away
    assert p_mpjpe(mirrored, gt) > 0.1


def test_p_mpjpe_hand():
    # gt (-1,0,0),(0,0,0),(1,0,0); pred (-1,0,0),(0,1,0),(1,0,0). Centred pred: (-1,-1/3),(0,2/3),(1,-1/3);
    # M = p0ᵀ g0 = diag(2,0,0) → R = I (up to a spin about x), s = 2 / (8/3) = 3/4;
    # aligned: (-3/4,-1/4),(0,1/2),(3/4,-1/4) → errors √0.125, 0.5, √0.125.
    gt = np.array([[-1.0, 0, 0], [0, 0, 0], [1, 0, 0]])
    pred = np.array([[-1.0, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert p_mpjpe(pred, gt) == pytest.approx((2 * np.sqrt(0.125) + 0.5) / 3)
    assert procrustes_align(pred, gt).shape == (3, 3)


def test_n_mpjpe_hand():
    gt = np.array([[1.0, 0.0, 0.0]])
    assert n_mpjpe(2.0 * gt, gt) == pytest.approx(0.0)
    # s = <p,g>/<p,p> = 1/2 → s·p = (0.5, 0.5, 0), error √0.5
    assert n_mpjpe(np.array([[1.0, 1.0, 0.0]]), gt) == pytest.approx(np.sqrt(0.5))


def test_velocity_error_hand():
    gt = np.zeros((3, 1, 3))
    pred = np.zeros((3, 1, 3))
    pred[:, 0, 0] = [0.0, 1.0, 3.0]  # velocities 1 and 2 vs 0
    assert velocity_error(pred, gt) == pytest.approx(1.5)
    assert velocity_error(pred + 7.0, gt) == pytest.approx(1.5)  # constant offsets do not matter
    with pytest.raises(ValueError, match="2 frames"):
        velocity_error(pred[:1], gt[:1])


def test_pck_and_auc_hand():
    gt = np.zeros((1, 4, 3))
    pred = np.zeros((1, 4, 3))
    pred[0, :, 0] = [0.1, 0.2, 0.05, 0.149]
    assert pck(pred, gt) == pytest.approx(0.75)  # 3 of 4 joints under 150 mm
    assert pck(pred, gt, threshold=0.06) == pytest.approx(0.25)
    one = np.array([[[0.102, 0.0, 0.0]]])
    # thresholds 0, 5, …, 150 mm: the 10 from 105 to 150 mm exceed 102 mm
    assert auc(one, np.zeros_like(one)) == pytest.approx(10 / 31)
    assert auc(gt, gt) == pytest.approx(30 / 31)  # zero error still fails the 0 mm threshold (strict <)


def test_bad_input():
    with pytest.raises(ValueError, match="differ"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))
    with pytest.raises(ValueError, match="NaN"):
        mpjpe(np.full((1, 17, 3), np.nan), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        p_mpjpe(np.zeros((17, 2)), np.zeros((17, 2)))
    with pytest.raises(ValueError):
        pck(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)), threshold=-1.0)


def test_acceleration_is_the_mean_second_difference() -> None:
    frames = np.zeros((4, 2, 3))
    frames[:, 0, 0] = [0.0, 1.0, 4.0, 9.0]  # x = t²: second difference 2 every frame; joint 1 still
    assert acceleration(frames) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 frames"):
        acceleration(frames[:2])
