"""The lag term of the lifter's training loss (mpm_model.training.lag, issue 26): δ̂'s sign and scale on constructed
motion, lag_weight 0 is the plain loss bit for bit, the term's gradient removes lag, invalid weights are refused."""
import math

import pytest
import torch

from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter
from mpm_model.tcn import TCNLifter
from mpm_model.training.lag import LagLoss, LagMeter, batch_lag

torch.set_num_threads(1)
TINY = dict(d_model=32, depth=2, heads=4, ffn_dim=64, encoder_hidden=64, decoder_depth=1)
TI = 26  # the default T=27 causal's target index


def _walk(batch: int = 4, frames: int = 27, joints: int = 17, seed: int = 0) -> torch.Tensor:
    """Root-relative poses (B, T, J, 3) that move every frame (a random walk, metres)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, joints, 3, generator=gen).mul(0.02).cumsum(1)


@pytest.mark.parametrize("shift", [1.0, 0.0, -0.5, 2.0])
def test_a_prediction_shifted_along_the_motion_gives_that_many_frames(shift):
    """pred = gt[ti] − shift · (gt[ti] − gt[ti−1]): shift 1 is the previous frame, "one frame late" (+1)."""
    pose3d = _walk()
    motion = pose3d[:, TI] - pose3d[:, TI - 1]  # (B, J, 3)
    lag = batch_lag(pose3d[:, TI] - shift * motion, pose3d, TI)
    assert float(lag) == pytest.approx(shift, abs=1e-5)


def test_the_previous_frame_itself_is_exactly_one_frame_late_and_noise_across_the_motion_is_no_lag():
    pose3d = _walk(seed=3)
    assert float(batch_lag(pose3d[:, TI - 1], pose3d, TI)) == pytest.approx(1.0, abs=1e-5)
    motion = pose3d[:, TI] - pose3d[:, TI - 1]
    across = torch.cross(motion, torch.tensor([0.0, 0.0, 1.0]).expand_as(motion), dim=-1)  # ⟂ to v, per joint
    assert float(batch_lag(pose3d[:, TI] + 3.0 * across, pose3d, TI)) == pytest.approx(0.0, abs=1e-5)


def test_a_still_batch_has_no_lag_and_keeps_its_graph():
    pose3d = torch.ones(2, 27, 17, 3)
    pred = torch.zeros(2, 17, 3, requires_grad=True)
    lag = batch_lag(pred, pose3d, TI)
    assert float(lag.detach()) == 0.0
    lag.backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) == 0.0


def test_the_lag_needs_the_frame_before_the_target():
    with pytest.raises(ValueError, match="target_index"):
        batch_lag(torch.zeros(1, 17, 3), _walk(1), 0)


def test_the_terms_gradient_moves_a_late_prediction_towards_no_lag():
    pose3d = _walk(seed=1)
    pred = pose3d[:, TI - 1].clone().requires_grad_(True)  # one frame late
    batch_lag(pred, pose3d, TI).square().backward()
    with torch.no_grad():
        stepped = pred - 0.1 * pred.grad / pred.grad.norm() * (pose3d[:, TI] - pose3d[:, TI - 1]).norm()
    assert 0.0 <= float(batch_lag(stepped, pose3d, TI)) < 0.95


@pytest.mark.parametrize("model", [MPMLifter(ModelConfig(causal=True, **TINY)),
                                   TCNLifter(ModelConfig(causal=True, arch="tcn", d_model=32))])
def test_weight_0_is_the_models_own_loss_bit_for_bit_and_a_weight_adds_w_lag_squared(model):
    model.eval()  # no dropout: two forwards give the same outputs
    gen = torch.Generator().manual_seed(0)
    kp = torch.randn(4, 27, 17, 2, generator=gen)  # (B, T, J, 2)
    mask = torch.rand(4, 27, 17, generator=gen) < 0.2  # (B, T, J)
    pose3d = _walk(seed=2)
    plain = model.loss(kp, mask, pose3d)
    loss, lag = LagLoss().loss(model, kp, mask, pose3d)
    assert torch.equal(loss, plain) and not lag.requires_grad
    weighted, same_lag = LagLoss(lag_weight=0.5).loss(model, kp, mask, pose3d)
    assert torch.equal(same_lag, lag) and float(lag) != 0.0
    assert float(weighted.detach()) == pytest.approx(float(plain.detach()) + 0.5 * float(lag) ** 2, rel=1e-6)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, 101.0])
def test_an_invalid_lag_weight_is_refused(bad):
    with pytest.raises(ValueError, match="lag_weight"):
        LagLoss(lag_weight=bad)


def test_the_meter_reads_the_mean_since_its_last_reading():
    meter = LagMeter()
    assert meter.read() is None
    for value in (1.0, 0.5, 0.0):
        meter.add(torch.tensor(value))
    assert meter.read() == pytest.approx(0.5)
    assert meter.read() is None
