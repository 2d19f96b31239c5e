"""The pose refiner's closed-form fit (tools/train_refiner.py `fit`; the refiner: mpm_model/streaming/refiner.py),
optionally with the lag held at a target over all frames or in each condition group, and with z's own kernel
(issue 24, docs/TEMPORAL.md round 7).

Why a constraint: the MSE-optimal causal estimate hedges towards the past (it reads ~1 frame late even on its own
validation chunks), and the smoothing term pulls it further back. The lag is the batch δ̂ of
mpm_model/training/lag.py (`batch_lag`): e = output − truth at the output's own frame, v = the truth's motion into
that frame, δ̂ = −Σ e·v / Σ v·v frames (+1: one frame late). The refiner is linear in its weights w, so Σ e·v is too:
δ̂ = target is one linear equation per group, met exactly by one Lagrange multiplier each (numpy only, no torch).
One group over every frame is the shipped choice: one per condition cost 10 mm through the bags."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.refiner import kernel_parts, shared_map


@dataclass(frozen=True)
class LagTerm:
    """What the lag constraint needs beside the fit's own target: per frame the truth at the output's own frame
    (its error defines δ̂), the truth's motion into it and the condition group whose δ̂ is held at `target`."""

    own: np.ndarray  # (N, J, 3) root-relative truth at each output's frame (lead 0)
    motion: np.ndarray  # (N, J, 3) own − the truth one frame before (0 at a sequence's first frame)
    group: np.ndarray  # (N,) int: one constraint per group (e.g. per cache file: one noise / camera condition)
    target: float = 0.0  # the lag each group is held at (frames; + = late)

    def select(self, keep: np.ndarray) -> LagTerm:
        """The same term over the frames `keep` (N,) bool selects (the fit's observed / training frames)."""
        return LagTerm(self.own[keep], self.motion[keep], self.group[keep], self.target)


def lag_term(truth: np.ndarray, sequence: np.ndarray, group: np.ndarray, target: float = 0.0) -> LagTerm:
    """(N, J, 3) truth + (N,) sequence ids (grouped) + (N,) groups → the LagTerm of outputs answering for each frame."""
    motion = np.zeros_like(truth)  # (N, J, 3)
    same = sequence[1:] == sequence[:-1]
    motion[1:][same] = truth[1:][same] - truth[:-1][same]
    return LagTerm(truth, motion, group, target)


def solve(history: np.ndarray, lifted: np.ndarray, truth: np.ndarray, sequence: np.ndarray, smooth: float,
          ridge: float, shared: bool, lag: LagTerm | None = None, depth_taps: bool = False
          ) -> tuple[np.ndarray, np.ndarray]:
    """Least squares on the residual, plus `smooth` x the squared error of its second difference against the
    truth's (SmoothNet's acceleration error, within a sequence), plus a ridge penalty → (K*J*3, J*3) weights and
    (J*3,) bias. `shared`: one K-tap causal filter for every coordinate (no bias; the same whatever the view),
    else a full linear map of the history (it also learns view-dependent pose corrections). `depth_taps` (shared
    only): z gets a kernel of its own (x-y see the 2D present, z never does). `lag` (shared only): each group's δ̂
    held at lag.target exactly; None: the plain fit."""
    n, size, coords = len(history), history.shape[1], lifted[0].size
    x = history.reshape(n, size, coords)  # (N, K, C)
    y = (truth - lifted).reshape(n, coords)  # (N, C): the residual on the newest lifted frame
    within = np.flatnonzero(sequence[2:] == sequence[:-2]) + 2  # frames whose two predecessors are their sequence's
    second = lambda a: a[within] - 2 * a[within - 1] + a[within - 2]  # noqa: E731
    dy = second(truth.reshape(n, coords)) - second(lifted.reshape(n, coords))  # (N', C)
    if shared:
        parts = kernel_parts(coords, depth_taps)
        normal = np.zeros((size * len(parts),) * 2)  # block diagonal: one (K, K) block per kernel
        right = np.zeros(size * len(parts))
        for p, part in enumerate(parts):
            taps = x[:, :, part].transpose(0, 2, 1).reshape(-1, size)  # (N * C_p, K)
            dtaps = second(x[:, :, part]).transpose(0, 2, 1).reshape(-1, size)
            block = slice(p * size, (p + 1) * size)
            normal[block, block] = taps.T @ taps + smooth * dtaps.T @ dtaps + ridge * n * np.eye(size)
            right[block] = taps.T @ y[:, part].reshape(-1) + smooth * dtaps.T @ dy[:, part].reshape(-1)
        w = np.linalg.solve(normal, right) if lag is None else _constrained(normal, right, x, lifted, lag, parts)
        return shared_map([w[p * size:(p + 1) * size] for p in range(len(parts))], coords), np.zeros(coords)
    if lag is not None or depth_taps:
        raise ValueError("the lag constraint and depth taps are written for the shared filter only")
    full = np.concatenate([x.reshape(n, -1), np.ones((n, 1))], 1)  # (N, K*C + 1)
    dfull = second(full)
    penalty = ridge * n * np.eye(full.shape[1])
    penalty[-1, -1] = 0.0
    solution = np.linalg.solve(full.T @ full + smooth * dfull.T @ dfull + penalty,
                               full.T @ y + smooth * dfull.T @ dy)  # (K*C + 1, C)
    return solution[:-1], solution[-1]


def lag_rows(x: np.ndarray, lifted: np.ndarray, lag: LagTerm, parts: list[np.ndarray] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, C) shared-filter inputs → (G, P*K) rows a and (G,) right sides b with a·w = b ⇔ each group's δ̂ =
    lag.target: Σ e·v = Σ v·(x w) − Σ v·(own − lifted) = −target Σ v·v, w the P kernels' taps (kernel_parts, default
    one). Groups in sorted order (np.unique)."""
    n = len(x)
    v = lag.motion.reshape(n, -1)  # (N, C)
    y0 = (lag.own - lifted).reshape(n, -1)  # (N, C): the residual against the output's own frame
    groups = np.unique(lag.group)
    parts = parts or [np.arange(v.shape[1])]
    rows = np.stack([np.concatenate([np.einsum("nkc,nc->k", x[lag.group == g][:, :, part], v[lag.group == g][:, part])
                                     for part in parts]) for g in groups])  # (G, P*K)
    power = np.array([np.square(v[lag.group == g]).sum() for g in groups])  # (G,)
    sides = np.array([(v[lag.group == g] * y0[lag.group == g]).sum() for g in groups]) - lag.target * power
    if (power <= 0).any():
        raise ValueError("a lag group without motion has no lag to hold")
    return rows, sides


def _constrained(normal: np.ndarray, right: np.ndarray, x: np.ndarray, lifted: np.ndarray, lag: LagTerm,
                 parts: list[np.ndarray]) -> np.ndarray:
    """argmin wᵀ normal w − 2 rightᵀ w subject to lag_rows' a·w = b: the KKT system, one multiplier per group."""
    rows, sides = lag_rows(x, lifted, lag, parts)  # (G, P*K), (G,)
    size, count = len(right), len(sides)
    kkt = np.block([[normal, rows.T], [rows, np.zeros((count, count))]])  # (K + G, K + G)
    return np.linalg.solve(kkt, np.concatenate([right, sides]))[:size]
