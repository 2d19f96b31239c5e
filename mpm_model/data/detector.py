"""2D keypoints as a real detector reports them: COCO-17 points synthesised from the mocap skeleton, and
errors that scale with the person's size in the image, with a confidence that goes with the error.

The node masks joints below its `min_confidence`; training does the same with the simulated confidence,
so large errors are mostly (not always) masked, as with a real detector.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.skeleton import COCO_JOINTS, NUM_JOINTS, coco17_to_h36m17

# H36M joints (mocap) that COCO-17 also has, as (coco index, h36m index).
_SHARED = ((5, 11), (6, 14), (7, 12), (8, 15), (9, 13), (10, 16), (11, 4), (12, 1), (13, 5), (14, 2),
           (15, 6), (16, 3), (0, 9))
# Left/right pairs of COCO-17 (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_LR_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
# Per-joint jitter relative to the body (wrists/ankles are the hardest for detectors, the face the easiest).
_COCO_JITTER = np.array([0.6, 0.6, 0.6, 0.8, 0.8, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.1, 1.1, 1.2, 1.2, 1.4, 1.4])
# Where the dataset placed nose and head top (README: from the skull base, metres along head up / forward).
_NOSE_UP, _NOSE_FWD, _TOP_UP, _TOP_FWD = 0.04, 0.09, 0.13, 0.02


def h36m_to_coco17(poses: np.ndarray) -> np.ndarray:
    """(..., 17, 3) H36M poses -> (..., 17, 3) COCO-17 points; eyes and ears rebuilt from the head frame.

    The mocap nose and head top fix the head's up/forward axes (dataset README); left/right comes from
    the shoulders. Eyes: 3 cm up, 7 cm forward and 3 cm aside of the skull base; ears: 3 cm up, 7.5 cm aside.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"h36m_to_coco17: expected (..., {NUM_JOINTS}, 3), got {poses.shape}")
    nose, top = poses[..., 9, :], poses[..., 10, :]
    left = poses[..., 11, :] - poses[..., 14, :]  # right shoulder -> left shoulder
    d = top - nose  # = (TOP_UP - NOSE_UP) up + (TOP_FWD - NOSE_FWD) fwd
    left = left - _unit(d) * (left * _unit(d)).sum(-1, keepdims=True)
    e1, side = _unit(d), _unit(left)
    e2 = np.cross(side, e1)  # forward-ish direction orthogonal to d in the sagittal plane
    a, b = _TOP_UP - _NOSE_UP, _TOP_FWD - _NOSE_FWD  # d = a up + b fwd, |d| = sqrt(a² + b²)
    norm = np.hypot(a, b)
    up = (a * e1 - b * e2) / norm
    fwd = (b * e1 + a * e2) / norm
    base = nose - _NOSE_UP * up - _NOSE_FWD * fwd
    coco = np.zeros(poses.shape[:-2] + (len(COCO_JOINTS), 3))
    for c, h in _SHARED:
        coco[..., c, :] = poses[..., h, :]
    for c, sign in ((1, 1.0), (2, -1.0)):  # eyes
        coco[..., c, :] = base + 0.03 * up + 0.07 * fwd + sign * 0.03 * side
    for c, sign in ((3, 1.0), (4, -1.0)):  # ears
        coco[..., c, :] = base + 0.03 * up + sign * 0.075 * side
    return coco.astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


@dataclass(frozen=True)
class DetectorModel:
    """Error model of a 2D pose detector; sizes are relative to the person's extent in the image (per
    frame, the larger side of the keypoints' box).

    Each window draws its jitter level from `jitter` (fraction of the person's extent), outlier/swap/miss
    rates up to their maxima; `min_confidence` is the node's default threshold.
    """

    jitter: tuple[float, float] = (0.003, 0.02)
    outlier_max: float = 0.03
    outlier_size: float = 0.15
    swap_max: float = 0.02
    miss_max: float = 0.05
    confidence_noise: float = 0.1
    min_confidence: float = 0.3

    def __call__(self, uv: np.ndarray, rng: np.random.Generator, swap_pairs: tuple[tuple[int, int], ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(T, J, 2) true pixels -> (noisy pixels (T, J, 2), confidence (T, J) in [0, 1])."""
        t, j, _ = uv.shape
        size = np.ptp(uv, axis=1).max(axis=-1).clip(min=10.0)[:, None, None]  # (T, 1, 1) person extent, px
        scale = _COCO_JITTER if j == len(_COCO_JITTER) else np.ones(j)
        sigma = rng.uniform(*self.jitter) * size * scale[None, :, None]  # (T, J, 1)
        error = rng.normal(0.0, 1.0, size=uv.shape) * sigma
        outliers = rng.random((t, j)) < rng.uniform(0.0, self.outlier_max)
        error += outliers[..., None] * rng.normal(0.0, self.outlier_size, size=uv.shape) * size
        noisy = uv + error
        swaps = rng.random((t, len(swap_pairs))) < rng.uniform(0.0, self.swap_max)
        for k, (left, right) in enumerate(swap_pairs):
            rows = swaps[:, k]
            noisy[rows, left], noisy[rows, right] = noisy[rows, right].copy(), noisy[rows, left].copy()
        relative = np.linalg.norm(noisy - uv, axis=-1) / size[..., 0]  # (T, J) error / person extent
        confidence = 1.0 - relative / 0.1 + rng.normal(0.0, self.confidence_noise, size=(t, j))
        confidence[rng.random((t, j)) < rng.uniform(0.0, self.miss_max)] = 0.0  # missed detections
        return noisy.astype(np.float32), confidence.clip(0.0, 1.0).astype(np.float32)


def detect_h36m(uv_h36m: np.ndarray, uv_coco: np.ndarray | None, rng: np.random.Generator,
                model: DetectorModel | None) -> tuple[np.ndarray, np.ndarray]:
    """Simulated detections in the H36M layout -> (pixels (T, 17, 2), confidence (T, 17)).

    With `uv_coco` (T, 17, 2) the detector sees COCO points and the node's COCO→H36M mapping builds
    pelvis/spine/thorax/head from them (what a COCO detector user feeds). Without a model: exact 2D,
    confidence 1.
    """
    if uv_coco is None:
        if model is None:
            return uv_h36m.astype(np.float32), np.ones(uv_h36m.shape[:2], np.float32)
        from mpm_model.skeleton import H36M_LEFT, H36M_RIGHT
        return model(uv_h36m, rng, tuple(zip(H36M_LEFT, H36M_RIGHT)))
    if model is None:
        uv, confidence = uv_coco.astype(np.float32), np.ones(uv_coco.shape[:2], np.float32)
    else:
        uv, confidence = model(uv_coco, rng, COCO_LR_PAIRS)
    return coco17_to_h36m17(uv, confidence)
