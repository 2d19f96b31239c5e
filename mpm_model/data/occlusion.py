"""Synthetic 2D detector errors: jitter, outliers and occlusion masks (True = masked)."""
from __future__ import annotations

import numpy as np
import torch

from mpm_model.data.draws import Draws, NumpyDraws

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
    """(T, J) bool mask, True = masked, covering round(ratio * T * J) entries (`occlusion_masks`, one window)."""
    if T < 1 or J < 1:
        raise ValueError(f"occlusion_mask: T and J must be >= 1, got {T}, {J}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"occlusion_mask: ratio must be in [0, 1], got {ratio}")
    unknown = set(kinds) - set(OCCLUSION_KINDS)
    if unknown or not kinds:
        raise ValueError(f"occlusion_mask: kinds must be a non-empty subset of {OCCLUSION_KINDS}, got {kinds}")
    if "limbs" in kinds and J != 17:
        raise ValueError(f"occlusion_mask: 'limbs' needs the 17 H36M joints, got J={J}")
    return occlusion_masks(NumpyDraws(rng), T, J, torch.tensor([float(ratio)]), kinds)[0].numpy()


def _pick(draws: Draws, allowed: torch.Tensor) -> torch.Tensor:
    """(B, N) bool -> (B,) index drawn uniformly among each row's allowed entries (any index for an empty row)."""
    scores = draws.random((allowed.shape[1],)).to(allowed.device)
    return torch.where(allowed, scores, torch.full_like(scores, -1.0)).argmax(dim=1)


def _span(draws: Draws, longest: int, missing: torch.Tensor, per_step: torch.Tensor | int) -> torch.Tensor:
    """(B,) spans drawn in [1, longest], capped by what is still missing (ceil(missing / per_step))."""
    drawn = 1 + draws.integers(longest).to(missing.device)
    return torch.minimum(drawn, -(-missing // per_step))


def occlusion_masks(draws: Draws, T: int, J: int, ratio: torch.Tensor,
                    kinds: tuple[str, ...] = OCCLUSION_KINDS) -> torch.Tensor:
    """(B, T, J) bool masks, True = masked, each covering round(ratio[b] * T * J) entries (overshoot < J).

    Each window draws, step by step, one of `kinds`: single joints, limb tubes (a body part over a contiguous
    span of frames, needs J = 17) or whole dropped frames (contiguous runs), until its target count is reached.
    Each draw is capped by what is still missing, so the ratio is met closely. All windows step together.
    """
    batch, device = draws.batch, ratio.device
    mask = torch.zeros(batch, T, J, dtype=torch.bool, device=device)
    target = (ratio * T * J).round().long()  # (B,)
    limbs = torch.zeros(len(H36M_LIMBS), J, dtype=torch.bool, device=device)
    if "limbs" in kinds:
        for row, limb in enumerate(H36M_LIMBS):
            limbs[row, list(limb)] = True
    limbs_f, limb_size = limbs.float(), limbs.sum(-1).float()
    frames_code = OCCLUSION_KINDS.index("frames")
    frames = torch.arange(T, device=device)[None]  # (1, T)
    codes = torch.tensor([OCCLUSION_KINDS.index(k) for k in kinds], device=device)
    while True:
        missing = target - mask.sum(dim=(1, 2))
        active = missing > 0
        if not bool(active.any()):
            return mask
        kind = codes[draws.integers(len(kinds)).to(device)]  # (B,) index into OCCLUSION_KINDS
        # whole frames
        span = _span(draws, max(1, T // 8), missing, J)
        start = _pick(draws, ~mask.all(dim=-1))
        in_span = (frames >= start[:, None]) & (frames < (start + span)[:, None])  # (B, T)
        chosen = in_span[..., None].expand(batch, T, J)
        # a limb tube: a limb that is not fully masked yet, over a span of frames where it is not
        masked_per_joint = mask.sum(dim=1).to(limbs_f.dtype)  # (B, J)
        open_limbs = (masked_per_joint @ limbs_f.T < T * limb_size) & (limb_size > 0)  # (B, L)
        limb = limbs[_pick(draws, open_limbs)]  # (B, J)
        size = limb.sum(-1)
        span = _span(draws, max(1, T // 4), missing, size.clamp(min=1))
        start = _pick(draws, (mask & limb[:, None]).sum(dim=-1) < size[:, None])
        in_span = (frames >= start[:, None]) & (frames < (start + span)[:, None])
        tube = in_span[..., None] & limb[:, None]
        use_limb = (kind == OCCLUSION_KINDS.index("limbs")) & open_limbs.any(dim=1)
        # single joints (also the top-up when no limb is left): `count` of the free entries, uniformly
        count = torch.minimum(missing, torch.tensor(max(1, T * J // 20), device=device)).clamp(min=1)
        scores = torch.where(mask.reshape(batch, -1), torch.full((batch, T * J), 2.0, device=device),
                             draws.random((T * J,)).to(device).float())
        rows = (active & (kind == OCCLUSION_KINDS.index("joints")) | ~use_limb & (kind != frames_code)).nonzero()[:, 0]
        singles = torch.zeros_like(mask)
        if len(rows):
            smallest = scores[rows].topk(int(count[rows].max()), dim=1, largest=False).values
            threshold = smallest.gather(1, count[rows, None] - 1)  # each row's count-th smallest score
            singles[rows] = (scores[rows] <= threshold).reshape(len(rows), T, J) & ~mask[rows]
        is_frames = (kind == frames_code)[:, None, None]
        chosen = torch.where(is_frames, chosen, torch.where(use_limb[:, None, None], tube, singles))
        mask |= chosen & active[:, None, None]


# Occlusion that lasts a whole window: joints hidden by an object or by the person's own body the whole time,
# or the lower body cut off by the image's bottom edge when the person stands close to the camera.
LASTING_GROUPS: dict[str, tuple[int, ...]] = {
    "wrists": (13, 16), "ankles": (3, 6), "left_arm": (11, 12, 13), "right_arm": (14, 15, 16),
    "legs": (2, 3, 5, 6),  # knees and ankles: an object in front of the legs
}
LASTING_KINDS = (*LASTING_GROUPS, "border")
BORDER_CUT = (0.45, 0.8)  # image bottom at this fraction of the person's height in the window (from the top)


def lasting_masks(draws: Draws, uv: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
    """(B, T, J) bool masks for (B, T, J, 2) pixels: window b hides LASTING_KINDS[kind[b]] in every frame
    (kind < 0: nothing). "border": every joint below a row at BORDER_CUT of the person's extent in the window."""
    batch, t, j, _ = uv.shape
    groups = torch.zeros(len(LASTING_KINDS), j, dtype=torch.bool, device=uv.device)
    for row, joints in enumerate(LASTING_GROUPS.values()):
        groups[row, list(joints)] = True
    v = uv[..., 1]  # (B, T, J), image rows grow downwards
    top, bottom = v.amin(dim=(1, 2)), v.amax(dim=(1, 2))
    cut = top + draws.uniform(*BORDER_CUT).to(uv.device, uv.dtype) * (bottom - top)  # (B,)
    border = v > cut[:, None, None]
    fixed = groups[kind.clamp(min=0)][:, None].expand(batch, t, j)
    hidden = torch.where((kind == LASTING_KINDS.index("border"))[:, None, None], border, fixed)
    return hidden & (kind >= 0)[:, None, None]
