"""The one optimizer step of the campaign and the CLIs (mpm_model.training.steps.OptimizerSteps): the LR of each step
follows the time-aware schedule, gradients are clipped, a non-finite loss stops the run without touching the
weights, and a resume continues the optimizer's state or, without it, re-warms."""
import pytest
import torch
from torch import nn

from mpm_model.training.steps import CLIP_NORM, REWARM_STEPS, OptimizerSteps, lr_factor


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def _loss(net: nn.Module, scale: float = 1.0) -> torch.Tensor:
    x = torch.linspace(-1, 1, 32).reshape(8, 4)
    return scale * net(x).pow(2).mean()


def test_each_step_takes_the_scheduled_lr_and_clips():
    net = _net()
    steps = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    for step in range(3):
        steps.train(_loss(net, scale=1e6), total_steps=100, budget_minutes=None)
        assert steps.step == step + 1
        assert steps.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * lr_factor(step, 100, 0.0, None), rel=1e-3)
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
        assert norm <= CLIP_NORM * (1 + 1e-4)  # the 1e6-scaled gradient was clipped


def test_a_non_finite_loss_stops_the_run_and_leaves_the_weights():
    net = _net()
    steps = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t27_causal")
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(FloatingPointError, match="t27_causal: non-finite loss nan at step 0"):
        steps.train(_loss(net) * float("nan"), total_steps=10, budget_minutes=None)
    assert steps.step == 0 and all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_resume_continues_the_optimizer_or_rewarms_without_it():
    net = _net()
    first = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    for _ in range(4):
        first.train(_loss(net), total_steps=1000, budget_minutes=None)
    exact = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    exact.resume(first.optimizer.state_dict(), step=4, minutes=2.5)
    assert exact.step == 4 and exact.minutes >= 2.5 and exact.rewarm == 0
    exact.train(_loss(net), total_steps=1000, budget_minutes=None)
    assert exact.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * lr_factor(4, 1000, 2.5, None), rel=1e-3)
    assert exact.optimizer.state_dict()["state"][0]["step"] == 5  # Adam's moments carried on
    fresh = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    fresh.resume(None, step=4, minutes=2.5)
    fresh.train(_loss(net), total_steps=1000, budget_minutes=None)
    expected = 1e-2 * lr_factor(4, 1000, 2.5, None) / REWARM_STEPS  # first of REWARM_STEPS ramp steps
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-3)
