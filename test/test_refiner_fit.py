"""The refiner's closed-form fit with the lag held (mpm_model/training/refiner_fit.py, issue 24 round 7), pure:
on outputs that trail the truth, the plain fit keeps a lag that the constrained fit takes to its target exactly in
every group, as lag.batch_lag measures it; without a constraint the fit is the plain normal equations, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mpm_model.streaming.refiner import refine
from mpm_model.training.lag import batch_lag
from mpm_model.training.refiner_fit import lag_rows, lag_term, solve

J, K, F = 17, 6, 120


def trailing_data(seed: int = 0, extra_z: int = 0) -> tuple[np.ndarray, ...]:
    """Two groups of 4 smooth sequences: outputs 1 (group 0) or 2 (group 1) frames late (z `extra_z` more), with
    jitter. → history (N, K, J, 3), lifted (N, J, 3), truth (N, J, 3), sequence (N,), group (N,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(F)[:, None, None]  # (F, 1, 1)
    histories, lifted, truth, sequence, group = [], [], [], [], []
    for s in range(8):
        phase, speed = rng.uniform(0, 6, (1, J, 3)), rng.uniform(0.05, 0.2, (1, J, 3))
        true = 0.3 * np.sin(speed * t + phase)  # (F, J, 3)
        late = 1 + s // 4
        out = np.concatenate([np.repeat(true[:1], late, 0), true[:-late]]) + rng.normal(0, 0.01, true.shape)
        if extra_z:
            out[extra_z:, :, 2], out[:extra_z, :, 2] = out[:-extra_z, :, 2], out[0, :, 2]
        index = np.maximum(np.arange(F)[:, None] - np.arange(K - 1, -1, -1)[None], 0)  # (F, K) oldest first
        histories.append(out[index]), lifted.append(out), truth.append(true)
        sequence.append(np.full(F, s)), group.append(np.full(F, s // 4))
    return tuple(np.concatenate(a) for a in (histories, lifted, truth, sequence, group))


def lags(history: np.ndarray, truth: np.ndarray, weights: np.ndarray, term) -> list[float]:
    """Each group's δ̂ of the fitted refiner's outputs, by lag.batch_lag (the lifter loss's definition)."""
    pred = refine(history, {"weights": weights, "bias": np.zeros(J * 3)})  # (N, J, 3)
    pose3d = np.stack([truth - term.motion, truth], 1)  # (N, 2, J, 3): the frame before, the output's own
    return [float(batch_lag(torch.from_numpy(pred[term.group == g]), torch.from_numpy(pose3d[term.group == g]), 1))
            for g in (0, 1)]


def test_the_constraint_holds_each_groups_lag_where_the_plain_fit_does_not() -> None:
    history, lifted, truth, sequence, group = trailing_data()
    term = lag_term(truth, sequence, group)
    plain, _ = solve(history, lifted, truth, sequence, smooth=8.0, ridge=1e-3, shared=True)
    assert lags(history, truth, plain, term)[1] > 0.5  # one shared filter for both: the 2-frame group still trails
    held, _ = solve(history, lifted, truth, sequence, smooth=8.0, ridge=1e-3, shared=True, lag=term)
    assert lags(history, truth, held, term) == pytest.approx([0.0, 0.0], abs=1e-6)
    early = lag_term(truth, sequence, group, target=-0.5)
    held, _ = solve(history, lifted, truth, sequence, smooth=8.0, ridge=1e-3, shared=True, lag=early)
    assert lags(history, truth, held, early) == pytest.approx([-0.5, -0.5], abs=1e-6)


def test_without_a_constraint_the_fit_is_todays_normal_equations_bit_for_bit() -> None:
    history, lifted, truth, sequence, _ = trailing_data(1)
    weights, bias = solve(history, lifted, truth, sequence, smooth=3.0, ridge=1e-3, shared=True)
    n, c = len(history), J * 3
    x = history.reshape(n, K, c)
    y = (truth - lifted).reshape(n, c)
    within = np.flatnonzero(sequence[2:] == sequence[:-2]) + 2
    second = lambda a: a[within] - 2 * a[within - 1] + a[within - 2]  # noqa: E731
    dy = second(truth.reshape(n, c)) - second(lifted.reshape(n, c))
    taps, dtaps = x.transpose(0, 2, 1).reshape(-1, K), second(x).transpose(0, 2, 1).reshape(-1, K)
    w = np.linalg.solve(taps.T @ taps + 3.0 * dtaps.T @ dtaps + 1e-3 * n * np.eye(K),
                        taps.T @ y.reshape(-1) + 3.0 * dtaps.T @ dy.reshape(-1))
    assert np.array_equal(weights, np.kron(w[:, None], np.eye(c))) and not bias.any()


def test_a_group_without_motion_and_the_full_map_are_refused() -> None:
    history, lifted, truth, sequence, group = trailing_data(2)
    still = lag_term(np.repeat(truth[:1], len(truth), 0), sequence, group)
    with pytest.raises(ValueError, match="without motion"):
        lag_rows(history.reshape(len(history), K, -1), lifted, still)
    with pytest.raises(ValueError, match="shared filter only"):
        solve(history, lifted, truth, sequence, 8.0, 1e-3, shared=False, lag=lag_term(truth, sequence, group))


def test_depth_taps_give_z_its_own_kernel_and_fit_a_later_z_better() -> None:
    """z 2 frames later than x-y: one kernel for both leaves more residual than x-y and z apart; the weights keep
    the shared filter's form (each coordinate from its own history only), z's kernel the same for every joint."""
    history, lifted, truth, sequence, _ = trailing_data(3, extra_z=2)
    residual = {}
    for depth in (False, True):
        weights, _ = solve(history, lifted, truth, sequence, smooth=0.0, ridge=1e-6, shared=True, depth_taps=depth)
        pred = refine(history, {"weights": weights, "bias": np.zeros(J * 3)})
        residual[depth] = float(np.square(pred - truth).mean())
    assert residual[True] < 0.8 * residual[False]
    c = J * 3
    kernels = weights.reshape(K, c, c)  # (K, C, C): frame k, input coordinate, output coordinate
    assert not (kernels * (1 - np.eye(c))).any()  # no coordinate reads another's history
    np.testing.assert_array_equal(kernels[:, 2, 2], kernels[:, 5, 5])  # one z kernel ...
    np.testing.assert_array_equal(kernels[:, 0, 0], kernels[:, 4, 4])  # ... one x-y kernel ...
    assert np.abs(kernels[:, 0, 0] - kernels[:, 2, 2]).max() > 0.1  # ... and they differ
