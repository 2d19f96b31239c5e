"""Shared helpers of the RootFilter tests (test_temporal.py, test_temporal_depth.py): a walker at 30 Hz and one
track's fits fed to the filter."""
from __future__ import annotations

from collections import Counter

import numpy as np

from mpm_model.streaming.placement import NOT_PLACED, REPROJECTION, FitQualities
from mpm_model.streaming.temporal import RootEstimate, RootFilter

PERIOD = 33_333_333
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
WALK = np.array([0.6, 0.0, 0.3])  # m/s
SEEN_SAMPLES = 14  # accepted joint depth samples of a person depth sees whole (make_bag's RGB-D bags: 10-17)


def truth(frame: int) -> np.ndarray:
    return np.array([-1.0, 0.2, 4.0]) + WALK * frame * PERIOD * 1e-9


def feed(roots: RootFilter, frame: int, fit: np.ndarray | None, counts: Counter, method: int = REPROJECTION,
         k: np.ndarray = K, track: int = 3, conditioning: float = 1.0, samples: int = 1) -> RootEstimate:
    fit = np.zeros(3) if fit is None else fit
    return roots.update(frame * PERIOD, (track,), fit[None], np.array([method if fit.any() else NOT_PLACED]),
                        k[None], counts, FitQualities(np.array([conditioning]), np.array([samples]), np.zeros(1)))


def walk(roots: RootFilter, frames: range, counts: Counter, method: int = REPROJECTION,
         samples: int = SEEN_SAMPLES) -> list[RootEstimate]:
    return [feed(roots, f, truth(f), counts, method, samples=samples) for f in frames]
