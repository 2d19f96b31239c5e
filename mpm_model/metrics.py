"""3D pose metrics on (..., J, 3) metre arrays (numpy or torch); every result is a Python float.

- `mpjpe`: mean per-joint position error (Protocol #1), metres.
- `p_mpjpe`: MPJPE after per-frame similarity Procrustes alignment (scale, rotation, translation) (Protocol #2).
- `n_mpjpe`: MPJPE after the per-frame least-squares scale of the prediction.
- `velocity_error`: mean per-joint error of first differences along the time axis (-3), metres/frame.
- `pck`: fraction of joints with error < threshold (default 150 mm, MPI-INF-3DHP).
- `auc`: mean PCK over the 31 thresholds 0, 5, …, 150 mm (MPI-INF-3DHP).
"""
from __future__ import annotations

import numpy as np
import torch

AUC_THRESHOLDS = np.linspace(0.0, 0.15, 31)


def _pair(pred, gt, min_dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert both inputs to float64 numpy arrays of equal shape (..., J, 3)."""
    arrays = []
    for name, value in (("pred", pred), ("gt", gt)):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        array = np.asarray(value, dtype=np.float64)
        if array.ndim < min_dims or array.shape[-1] != 3 or array.shape[-2] < 1:
            raise ValueError(f"{name}: expected shape (..., J, 3) with at least {min_dims} dims, got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: contains NaN/inf")
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"pred and gt shapes differ: {arrays[0].shape} vs {arrays[1].shape}")
    return arrays[0], arrays[1]


def _joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred, gt) -> float:
    pred, gt = _pair(pred, gt)
    return float(_joint_errors(pred, gt).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame similarity transform of `pred` (..., J, 3) that best matches `gt` (least squares)."""
    shape = pred.shape
    p = pred.reshape(-1, shape[-2], 3)
    g = gt.reshape(-1, shape[-2], 3)
    mu_p, mu_g = p.mean(axis=1, keepdims=True), g.mean(axis=1, keepdims=True)
    p0, g0 = p - mu_p, g - mu_g
    u, s, vt = np.linalg.svd(np.einsum("fji,fjk->fik", p0, g0))  # (F, 3, 3) cross-covariance
    sign = np.sign(np.linalg.det(u @ vt))
    sign[sign == 0] = 1.0
    d = np.ones_like(s)
    d[:, -1] = sign
    rotation = u @ (d[:, :, None] * vt)  # U diag(d) Vt
    variance = (p0 ** 2).sum(axis=(1, 2))
    scale = (s * d).sum(axis=1) / np.maximum(variance, 1e-12)
    aligned = scale[:, None, None] * p0 @ rotation + mu_g
    return aligned.reshape(shape)


def p_mpjpe(pred, gt) -> float:
    pred, gt = _pair(pred, gt)
    return float(_joint_errors(procrustes_align(pred, gt), gt).mean())


def n_mpjpe(pred, gt) -> float:
    pred, gt = _pair(pred, gt)
    power = np.maximum((pred ** 2).sum(axis=(-1, -2), keepdims=True), 1e-12)
    scale = (pred * gt).sum(axis=(-1, -2), keepdims=True) / power  # per-frame least-squares scale
    return float(_joint_errors(scale * pred, gt).mean())


def velocity_error(pred, gt) -> float:
    pred, gt = _pair(pred, gt, min_dims=3)
    if pred.shape[-3] < 2:
        raise ValueError(f"velocity_error needs >= 2 frames on axis -3, got shape {pred.shape}")
    return float(_joint_errors(np.diff(pred, axis=-3), np.diff(gt, axis=-3)).mean())


def acceleration(pred) -> float:
    """Mean |second difference| of the joints over frames (axis -3): jitter per frame², in pred's units."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim < 3 or pred.shape[-3] < 3:
        raise ValueError(f"acceleration needs >= 3 frames on axis -3, got shape {pred.shape}")
    return float(np.linalg.norm(np.diff(pred, 2, axis=-3), axis=-1).mean())


def pck(pred, gt, threshold: float = 0.15) -> float:
    if threshold < 0:
        raise ValueError(f"pck threshold must be >= 0 metres, got {threshold}")
    pred, gt = _pair(pred, gt)
    return float((_joint_errors(pred, gt) < threshold).mean())


def auc(pred, gt) -> float:
    pred, gt = _pair(pred, gt)
    errors = _joint_errors(pred, gt)
    return float(np.mean([(errors < t).mean() for t in AUC_THRESHOLDS]))
