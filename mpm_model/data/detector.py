"""2D keypoints as a real detector reports them: COCO-17 points synthesised from the mocap skeleton, and
errors that scale with the person's size in the image, with a confidence that goes with the error.

The node masks joints below its `min_confidence`; training does the same with the simulated confidence,
so large errors are mostly (not always) masked, as with a real detector.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mpm_model.data.draws import Draws, NumpyDraws
from mpm_model.skeleton import COCO_JOINTS, COCO_TO_H36M_SOURCES, NUM_JOINTS, coco17_to_h36m17

# H36M joints (mocap) that COCO-17 also has, as (coco index, h36m index).
_SHARED = ((5, 11), (6, 14), (7, 12), (8, 15), (9, 13), (10, 16), (11, 4), (12, 1), (13, 5), (14, 2),
           (15, 6), (16, 3), (0, 9))
_SHARED_H36M = [h for _, h in _SHARED]
_COCO_ORDER = [[c for c, _ in _SHARED].index(k) if k in [c for c, _ in _SHARED] else len(_SHARED) + k - 1
               for k in range(len(COCO_JOINTS))]  # rows of [shared..., eyes, ears] in COCO order
# The node's COCO→H36M mapping as tensors: row h averages its sources; min over the (padded) source indices.
_COCO_AVERAGE = torch.tensor([[1.0 / len(src) if c in src else 0.0 for c in range(len(COCO_JOINTS))]
                              for src in COCO_TO_H36M_SOURCES])
_COCO_MIN_INDEX = torch.tensor([list(src) + [src[-1]] * (4 - len(src)) for src in COCO_TO_H36M_SOURCES])
# Left/right pairs of COCO-17 (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_LR_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
# Per-joint jitter relative to the body (wrists/ankles are the hardest for detectors, the face the easiest).
_COCO_JITTER = np.array([0.6, 0.6, 0.6, 0.8, 0.8, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.1, 1.1, 1.2, 1.2, 1.4, 1.4])
# Where the dataset placed nose and head top (README: from the skull base, metres along head up / forward).
_NOSE_UP, _NOSE_FWD, _TOP_UP, _TOP_FWD = 0.04, 0.09, 0.13, 0.02


def h36m_to_coco17(poses: np.ndarray) -> np.ndarray:
    """(..., 17, 3) H36M poses -> (..., 17, 3) COCO-17 points (float32), by `coco17_points`."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"h36m_to_coco17: expected (..., {NUM_JOINTS}, 3), got {poses.shape}")
    return coco17_points(torch.from_numpy(poses)).numpy().astype(np.float32)


def coco17_points(poses: torch.Tensor) -> torch.Tensor:
    """(..., 17, 3) H36M poses -> (..., 17, 3) COCO-17 points; eyes and ears rebuilt from the head frame.

    The mocap nose and head top fix the head's up/forward axes (dataset README); left/right comes from
    the shoulders. Eyes: 3 cm up, 7 cm forward and 3 cm aside of the skull base; ears: 3 cm up, 7.5 cm aside.
    """
    nose, top = poses[..., 9, :], poses[..., 10, :]
    left = poses[..., 11, :] - poses[..., 14, :]  # right shoulder -> left shoulder
    d = top - nose  # = (TOP_UP - NOSE_UP) up + (TOP_FWD - NOSE_FWD) fwd
    e1 = _unit(d)
    side = _unit(left - e1 * (left * e1).sum(-1, keepdim=True))
    e2 = torch.linalg.cross(side, e1)  # forward-ish direction orthogonal to d in the sagittal plane
    a, b = _TOP_UP - _NOSE_UP, _TOP_FWD - _NOSE_FWD  # d = a up + b fwd, |d| = sqrt(a² + b²)
    norm = float(np.hypot(a, b))
    up = (a * e1 - b * e2) / norm
    fwd = (b * e1 + a * e2) / norm
    base = nose - _NOSE_UP * up - _NOSE_FWD * fwd
    coco = poses[..., _SHARED_H36M, :]  # (..., 13, 3) in _SHARED order, then face points
    face = [base + 0.03 * up + 0.07 * fwd + 0.03 * side, base + 0.03 * up + 0.07 * fwd - 0.03 * side,  # eyes
            base + 0.03 * up + 0.075 * side, base + 0.03 * up - 0.075 * side]  # ears
    return torch.cat([coco, torch.stack(face, dim=-2)], dim=-2)[..., _COCO_ORDER, :]


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-9)


def coco_to_h36m_batch(keypoints: torch.Tensor, confidence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 17, 2) COCO keypoints + (..., 17) confidence -> H36M-17 by the node's mapping
    (`skeleton.COCO_TO_H36M_SOURCES`: mean position of the sources, their minimum confidence)."""
    average = _COCO_AVERAGE.to(keypoints.device, keypoints.dtype)
    return (torch.einsum("hc,...cd->...hd", average, keypoints),
            confidence[..., _COCO_MIN_INDEX.to(confidence.device)].amin(dim=-1))


@dataclass(frozen=True)
class DetectorModel:
    """Error model of a 2D pose detector; sizes are relative to the person's extent in the image (per
    frame, the larger side of the keypoints' box).

    Each window draws its jitter level from `jitter` (fraction of the person's extent), outlier/swap/miss
    rates up to their maxima; `min_confidence` is the node's default threshold. `exact_share` of the windows are
    reported exactly (confidence 1): without them a causal lifter never sees clean 2D, learns to lean on the past
    whatever its input, and answers for the frame before its target on clean 2D (docs/MODEL_CARD.md, issue 26).
    """

    jitter: tuple[float, float] = (0.003, 0.02)
    outlier_max: float = 0.03
    outlier_size: float = 0.15
    swap_max: float = 0.02
    miss_max: float = 0.05
    confidence_noise: float = 0.1
    min_confidence: float = 0.3
    exact_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.exact_share <= 1.0:
            raise ValueError(f"DetectorModel.exact_share must be in [0, 1], got {self.exact_share}")

    def __call__(self, uv: np.ndarray, rng: np.random.Generator, swap_pairs: tuple[tuple[int, int], ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(T, J, 2) true pixels -> (noisy pixels (T, J, 2), confidence (T, J) in [0, 1]) (`detect`, one window)."""
        noisy, confidence = self.detect(torch.from_numpy(np.asarray(uv, np.float64))[None], NumpyDraws(rng),
                                        swap_pairs)
        return noisy[0].numpy().astype(np.float32), confidence[0].numpy().astype(np.float32)

    def detect(self, uv: torch.Tensor, draws: Draws, swap_pairs: tuple[tuple[int, int], ...]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, J, 2) true pixels -> (noisy pixels (B, T, J, 2), confidence (B, T, J) in [0, 1]); each window
        draws its own jitter level and outlier / swap / miss rates."""
        _, t, j, _ = uv.shape
        size = (uv.amax(dim=2) - uv.amin(dim=2)).amax(dim=-1).clamp(min=10.0)[..., None, None]  # (B, T, 1, 1) px
        scale = torch.as_tensor(_COCO_JITTER if j == len(_COCO_JITTER) else np.ones(j), dtype=uv.dtype,
                                device=uv.device)
        sigma = _per_window(draws.uniform(*self.jitter), 3) * size * scale[:, None]  # (B, T, J, 1)
        error = draws.normal((t, j, 2)) * sigma
        outliers = draws.random((t, j)) < _per_window(draws.uniform(0.0, self.outlier_max), 2)
        error = error + outliers[..., None] * draws.normal((t, j, 2)) * self.outlier_size * size
        noisy = uv + error
        swaps = draws.random((t, len(swap_pairs))) < _per_window(draws.uniform(0.0, self.swap_max), 2)
        for k, (left, right) in enumerate(swap_pairs):
            rows = swaps[..., k, None]  # (B, T, 1)
            a, b = noisy[:, :, left], noisy[:, :, right]
            noisy[:, :, left], noisy[:, :, right] = torch.where(rows, b, a), torch.where(rows, a, b)
        relative = (noisy - uv).norm(dim=-1) / size[..., 0]  # (B, T, J) error / person extent
        confidence = 1.0 - relative / 0.1 + draws.normal((t, j)) * self.confidence_noise
        missed = draws.random((t, j)) < _per_window(draws.uniform(0.0, self.miss_max), 2)
        confidence = torch.where(missed, torch.zeros_like(confidence), confidence).clamp(0.0, 1.0)
        if self.exact_share > 0:  # drawn only then: the default recipe's random stream stays as it was
            exact = _per_window(draws.random() < self.exact_share, 2)  # (B, 1, 1)
            noisy = torch.where(exact[..., None], uv, noisy)
            confidence = torch.where(exact, torch.ones_like(confidence), confidence)
        return noisy, confidence


def _per_window(values: torch.Tensor, dims: int) -> torch.Tensor:
    """(B,) per-window values -> (B, 1, ..., 1) with `dims` trailing ones."""
    return values.reshape(-1, *([1] * dims))


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
