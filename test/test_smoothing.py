"""JointSmoother (One Euro): off by default and then the identity; causal (no delay on a step's first frame);
less jitter on a still noisy joint; resets on a new track, a gap or stamps going back; a live track_timeout
reaches it."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.streaming.smoothing import JointSmoother, SmoothingOptions

PERIOD = 33_333_333
ON = SmoothingOptions(smoothing=True, smoothing_min_cutoff=1.0, smoothing_beta=0.5)


def run(smoother: JointSmoother, frames: np.ndarray, start: int = 0) -> np.ndarray:
    return np.array([smoother.filter((start + f) * PERIOD, (7,), x[None])[0] for f, x in enumerate(frames)])


def test_off_is_the_identity() -> None:
    frames = np.random.default_rng(0).normal(size=(20, 17, 3))
    np.testing.assert_array_equal(run(JointSmoother(), frames), frames)


def test_jitter_drops_on_a_still_joint_and_the_mean_stays() -> None:
    noise = np.random.default_rng(1).normal(scale=0.01, size=(300, 17, 3))
    frames = np.array([0.3, -0.2, 4.0]) + noise
    out = run(JointSmoother(ON), frames)
    jitter = lambda x: np.linalg.norm(np.diff(x[50:], 2, axis=0), axis=-1).mean()  # noqa: E731
    assert jitter(out) < 0.25 * jitter(frames)
    np.testing.assert_allclose(out[50:].mean((0, 1)), [0.3, -0.2, 4.0], atol=0.003)


def test_causal_and_fast_motion_follows() -> None:
    """A 1 m/s walk: the lag stays below the steady state v (1 - a) / a dt of a fixed cutoff min_cutoff + beta v
    (the speed estimate includes the lag, which raises the cutoff), and a larger beta shortens it; a new frame
    changes no earlier output."""
    frames = np.zeros((90, 17, 3)) + np.arange(90)[:, None, None] * np.array([1 / 30, 0, 0])
    out = run(JointSmoother(ON), frames)
    alpha = 1 / (1 + 30 / (2 * np.pi * (1.0 + 0.5 * 1.0)))
    lag = np.abs(frames[-1] - out[-1])[:, 0]
    assert np.allclose(lag, lag[0]) and 0.02 < lag[0] < (1 - alpha) / alpha / 30
    quick = run(JointSmoother(SmoothingOptions(True, 1.0, 5.0)), frames)
    assert np.abs(frames[-1] - quick[-1]).max() < 0.4 * np.abs(frames[-1] - out[-1]).max()
    prefix = run(JointSmoother(ON), frames[:30])
    np.testing.assert_array_equal(prefix, out[:30])


@pytest.mark.parametrize("change", ["gap", "back", "live_timeout"])
def test_restarts(change: str) -> None:
    smoother = JointSmoother(ON, reset_after_s=1.0)
    run(smoother, np.zeros((10, 17, 3)))
    jump = np.full((1, 17, 3), 5.0)
    if change == "live_timeout":  # 0.2 s without the track: a restart only under the new, shorter timeout
        smoother.set_options(ON, reset_after_s=0.1)
    start = {"gap": 60, "back": 2, "live_timeout": 16}[change]
    out = run(smoother, jump, start=start)
    np.testing.assert_array_equal(out[0], jump[0])  # restarted: the first frame passes unchanged
    assert np.allclose(run(smoother, jump, start=start + 1), 5.0)


def test_a_short_gap_under_the_timeout_does_not_restart() -> None:
    smoother = JointSmoother(ON, reset_after_s=1.0)
    run(smoother, np.zeros((10, 17, 3)))
    assert run(smoother, np.full((1, 17, 3), 5.0), start=16)[0, 0, 0] < 5.0


def test_options_validated() -> None:
    with pytest.raises(ValueError, match="smoothing_min_cutoff"):
        SmoothingOptions(smoothing_min_cutoff=0.0)
    with pytest.raises(ValueError, match="smoothing_beta"):
        SmoothingOptions(smoothing_beta=-1.0)
