"""The one training loop of the campaign and the CLIs (mpm_model.training.steps.train_loop) and its optimizer step
(OptimizerSteps): the loop stops on its caller's rule or at the end of the batches and checkpoints at the caller's
cadence; the CLIs' batches (epochs.Epochs) mark each epoch's end. The LR of each step follows the time-aware
schedule, gradients are clipped, a non-finite loss stops the run without touching the weights, and a resume
continues the optimizer's state or, without it, re-warms."""
import pytest
import torch
from torch import nn

from mpm_model.training.epochs import Epochs
from mpm_model.training.steps import CLIP_NORM, REWARM_STEPS, OptimizerSteps, Pace, lr_factor, train_loop


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


def test_the_loop_stops_on_the_callers_rule_and_checkpoints_at_its_cadence():
    net = _net()
    steps = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    losses, drawn_with_grad, checkpoints = [], [], []

    def draws():
        while True:
            drawn_with_grad.append(torch.is_grad_enabled())
            yield 1.0 + len(drawn_with_grad)

    def loss_fn(scale: float) -> torch.Tensor:
        assert net.training  # a checkpoint's validation left eval mode behind; the loop trains again
        loss = _loss(net, scale)
        losses.append(float(loss.detach()))
        return loss

    def checkpoint(pace: Pace) -> None:
        checkpoints.append((steps.step, pace.steps, pace.loss_count, pace.mean_loss))
        net.eval()

    pace = train_loop(steps, draws(), loss_fn, lambda: 100, None, lambda: steps.step >= 7,
                      lambda: steps.step % 3 == 0, checkpoint)
    assert pace.steps == steps.step == 7 and not any(drawn_with_grad)
    assert [c[:3] for c in checkpoints] == [(3, 3, 3), (6, 6, 3)]
    assert checkpoints[1][3] == pytest.approx(sum(losses[3:6]) / 3)  # the mean since the last checkpoint
    assert pace.loss_count == 1 and pace.last_loss == pytest.approx(losses[-1])
    assert pace.data_s >= 0 and pace.model_s > 0


def test_the_loop_ends_with_its_batches():
    net = _net()
    steps = OptimizerSteps(net, lr=1e-2, weight_decay=1e-4, label="t")
    seen = []
    pace = train_loop(steps, iter([1.0, 2.0, 3.0]), lambda scale: _loss(net, scale), lambda: 10, None,
                      lambda: False, lambda: False, lambda pace: None, on_step=lambda pace: seen.append(pace.steps))
    assert pace.steps == steps.step == 3 and seen == [1, 2, 3]


class _Loader:
    """A loader look-alike: `length` says how many batches, `gives` how many it yields."""

    def __init__(self, length: int, gives: int) -> None:
        self.length, self.gives, self.epochs = length, gives, []

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(range(self.gives))

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_epochs_stream_the_loaders_epochs_and_mark_each_end():
    loader = _Loader(3, 3)
    epochs = Epochs(loader, start=1, epochs=3, max_batches=2, show=False)
    ends = [(epochs.epoch, batch, epochs.ended) for batch in epochs]
    assert ends == [(1, 0, False), (1, 1, True), (2, 0, False), (2, 1, True)] and loader.epochs == [1, 2]
    with pytest.raises(ValueError, match="epoch 1/2: the loader gave 2 of its 3 batches"):
        list(Epochs(_Loader(3, 2), start=0, epochs=2, max_batches=None, show=False))
    with pytest.raises(ValueError, match="epoch 1/2 train: the loader produced no batches"):
        list(Epochs(_Loader(0, 0), start=0, epochs=2, max_batches=None, show=False))
