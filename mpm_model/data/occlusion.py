"""Synthetic 2D detector errors: jitter, outliers and occlusion masks (True = masked)."""
from __future__ import annotations

import numpy as np

OCCLUSION_KINDS = ("joints", "limbs", "frames")
# H36M-17 body parts that are typically hidden together (by an object, the other body, or the frame edge).
H36M_LIMBS: tuple[tuple[int, ...], ...] = (
    (1, 2, 3), (4, 5, 6), (2, 3), (5, 6),            # right / left leg, lower legs
    (14, 15, 16), (11, 12, 13), (15, 16), (12, 13),  # right / left arm, forearms
    (9, 10), (0, 7, 8),                              # head, torso
)


def detector_noise(
    uv: np.ndarray,
    rng: np.random.Generator,
    sigma_px: float = 2.0,
    outlier_prob: float = 0.0,
    outlier_px: float = 40.0,
) -> np.ndarray:
    """(..., 2) pixels + Gaussian jitter (`sigma_px`) + with prob `outlier_prob` a gross error of
    Gaussian size `outlier_px` per keypoint (swapped or misplaced detections)."""
    uv = np.asarray(uv)
    if uv.shape[-1] != 2:
        raise ValueError(f"detector_noise: expected (..., 2) pixels, got {uv.shape}")
    if sigma_px < 0 or outlier_px < 0 or not 0.0 <= outlier_prob <= 1.0:
        raise ValueError(f"detector_noise: need sigma_px, outlier_px >= 0 and outlier_prob in [0, 1], "
                         f"got {sigma_px}, {outlier_px}, {outlier_prob}")
    noisy = uv + rng.normal(0.0, sigma_px, size=uv.shape)
    if outlier_prob > 0:
        outliers = rng.random(uv.shape[:-1]) < outlier_prob
        noisy = noisy + outliers[..., None] * rng.normal(0.0, outlier_px, size=uv.shape)
    return noisy.astype(np.result_type(uv.dtype, np.float32))


def occlusion_mask(
    rng: np.random.Generator,
    T: int,
    J: int,
    ratio: float,
    kinds: tuple[str, ...] = OCCLUSION_KINDS,
) -> np.ndarray:
    """(T, J) bool mask, True = masked, covering round(ratio * T * J) entries (overshoot < J).

    Draws, in random order of `kinds`: single joints, limb tubes (a body part over a contiguous
    span of frames, needs J = 17) and whole dropped frames (contiguous runs), until the target
    count is reached. Each draw is capped by what is still missing, so the ratio is met closely.
    """
    if T < 1 or J < 1:
        raise ValueError(f"occlusion_mask: T and J must be >= 1, got {T}, {J}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"occlusion_mask: ratio must be in [0, 1], got {ratio}")
    unknown = set(kinds) - set(OCCLUSION_KINDS)
    if unknown or not kinds:
        raise ValueError(f"occlusion_mask: kinds must be a non-empty subset of {OCCLUSION_KINDS}, got {kinds}")
    if "limbs" in kinds and J != 17:
        raise ValueError(f"occlusion_mask: 'limbs' needs the 17 H36M joints, got J={J}")
    mask = np.zeros((T, J), dtype=bool)
    target = int(round(ratio * T * J))
    while mask.sum() < target:
        missing = target - int(mask.sum())
        kind = kinds[rng.integers(len(kinds))]
        if kind == "frames":
            span = min(int(rng.integers(1, max(1, T // 8) + 1)), -(-missing // J))
            start = int(rng.choice(np.flatnonzero(~mask.all(axis=1))))  # progress guaranteed
            mask[start:start + span] = True
            continue
        if kind == "limbs":
            open_limbs = [limb for limb in H36M_LIMBS if not mask[:, list(limb)].all()]
            if open_limbs:
                limb = list(open_limbs[rng.integers(len(open_limbs))])
                span = min(int(rng.integers(1, max(1, T // 4) + 1)), -(-missing // len(limb)))
                start = int(rng.choice(np.flatnonzero(~mask[:, limb].all(axis=1))))
                mask[start:start + span, limb] = True
                continue
        free = np.flatnonzero(~mask.reshape(-1))  # single joints (also the top-up when no limb is left)
        count = min(missing, max(1, T * J // 20))
        mask.reshape(-1)[rng.choice(free, size=count, replace=False)] = True
    return mask
