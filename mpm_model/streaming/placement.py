"""Root translation of a root-relative 3D skeleton in the camera frame, from its 2D keypoints (ROS-free).

For a pinhole camera, joint j at X_j + t projects to u_j = fx (X_j + t_x) / (Z_j + t_z) + cx, which is linear
in t once multiplied out:  fx t_x - (u_j - cx) t_z = (u_j - cx) Z_j - fx X_j  (and likewise for v with fy, cy).
Two equations per visible joint, three unknowns: weighted linear least squares (weights = confidence).
Keypoints must be undistorted (rectified image or distortion-free camera).
With an aligned depth image (streaming/depth.py) each visible joint adds one more equation for the root's depth,
after the samples that disagree (holes, occluders, background) are rejected; `place` does both.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, Sequence, overload

import numpy as np

from mpm_model.streaming.depth import (RELIABILITY_SIGMA0_M, DepthImage, DepthOptions, reliability, root_depth_samples,
                                       sample_joint_depths)

MIN_DEPTH_M = 0.1
NOT_PLACED, REPROJECTION, DEPTH = 0, 1, 2  # = mpm_msgs/Skeleton3D's placement constants


def estimate_root_translation(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                              intrinsics: np.ndarray) -> np.ndarray | None:
    """(J, 3) root-relative metres + (J, 2) pixels + (J,) weights (0 = unused) + K (3, 3) → t (3,) or None.

    None when fewer than two joints have positive weight, the system is degenerate, or the solution puts
    the root less than MIN_DEPTH_M in front of the camera.
    """
    joints3d, pixels, weights = (np.asarray(a, np.float64) for a in (joints3d, pixels, weights))
    if joints3d.ndim != 2 or joints3d.shape[1] != 3 or pixels.shape != (len(joints3d), 2) \
            or weights.shape != (len(joints3d),):
        raise ValueError(f"expected (J,3), (J,2), (J,) and (3,3), got {joints3d.shape}, {pixels.shape}, "
                         f"{weights.shape}, {np.shape(intrinsics)}")
    translation, solved = root_translations(joints3d[None], pixels[None], weights[None], intrinsics)
    return translation[0] if solved[0] else None


def root_translations(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray, intrinsics: np.ndarray,
                      depth_roots: np.ndarray | None = None,
                      depth_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """estimate_root_translation for a batch in one solve: (B, J, 3) + (B, J, 2) + (B, J) + K (3, 3), or one K per
    skeleton (B, 3, 3) with NaN where a skeleton has none → t (B, 3) and (B,) bool "solved" (t is 0 where not).

    Optional depth equations t_z = depth_roots[b, j] (B, J; NaN = none) with weights (B, J) join the reprojection
    equations, scaled by the focal length so both are in the same units (pixel x metre ≈ focal x metre).
    The weighted normal equations (A^T W A) t = A^T W b of every track are built with einsum and solved together;
    a track is refused when it has fewer than two usable equations, its 3x3 system is near-singular (relative
    eigenvalue below 1e-10, what lstsq's rank test would catch), or the root lands closer than MIN_DEPTH_M.
    """
    joints3d = np.asarray(joints3d, np.float64)  # (B, J, 3)
    pixels = np.asarray(pixels, np.float64)  # (B, J, 2)
    weights = np.asarray(weights, np.float64)  # (B, J)
    batch, num_joints = weights.shape
    k = np.asarray(intrinsics, np.float64)
    k = np.broadcast_to(k, (batch, 3, 3)) if k.shape == (3, 3) else k  # (B, 3, 3)
    if joints3d.shape != (batch, num_joints, 3) or pixels.shape != (batch, num_joints, 2) or k.shape != (batch, 3, 3):
        raise ValueError(f"expected (B,J,3), (B,J,2), (B,J) and (3,3) or (B,3,3), got {joints3d.shape}, "
                         f"{pixels.shape}, {weights.shape}, {np.shape(intrinsics)}")
    has_k = np.isfinite(k).all((1, 2))  # (B,)
    with np.errstate(invalid="ignore"):
        usable = (weights > 0) & np.isfinite(pixels).all(-1) & np.isfinite(joints3d).all(-1) & has_k[:, None]
    w = np.where(usable, weights, 0.0)
    x, y, z = (np.where(usable, joints3d[..., i], 0.0) for i in range(3))  # (B, J) each
    k = np.where(has_k[:, None, None], k, np.eye(3))
    fx, fy, cx, cy = (k[:, r, c, None] for r, c in ((0, 0), (1, 1), (0, 2), (1, 2)))  # (B, 1) each
    du = np.where(usable, pixels[..., 0] - cx, 0.0)  # (B, J)
    dv = np.where(usable, pixels[..., 1] - cy, 0.0)
    # Rows per joint: [fx, 0, -du] · t = du z - fx x  and  [0, fy, -dv] · t = dv z - fy y.
    zeros = np.zeros_like(du)
    rows_u = np.stack([np.broadcast_to(fx, du.shape), zeros, -du], -1)  # (B, J, 3)
    rows_v = np.stack([zeros, np.broadcast_to(fy, dv.shape), -dv], -1)
    rhs_u, rhs_v = du * z - fx * x, dv * z - fy * y  # (B, J)
    normal = np.einsum("bj,bjk,bjl->bkl", w, rows_u, rows_u) + np.einsum("bj,bjk,bjl->bkl", w, rows_v, rows_v)
    target = np.einsum("bj,bjk,bj->bk", w, rows_u, rhs_u) + np.einsum("bj,bjk,bj->bk", w, rows_v, rhs_v)
    equations = usable.sum(-1)
    if depth_roots is not None:  # rows [0, 0, f] · t = f · root depth, f = sqrt(fx fy)
        with np.errstate(invalid="ignore"):
            dw = np.where(np.isfinite(depth_roots) & has_k[:, None], np.asarray(depth_weights, np.float64), 0.0)
        dw = np.where(dw > 0, dw, 0.0) * (fx * fy)  # (B, J): f² scales the squared row
        normal[:, 2, 2] += dw.sum(-1)
        target[:, 2] += (dw * np.where(dw > 0, depth_roots, 0.0)).sum(-1)
        equations = equations + (dw > 0).sum(-1)
    eigen = np.linalg.eigvalsh(normal)  # (B, 3) ascending
    solvable = has_k & (equations >= 2) & (eigen[:, 0] > 1e-10 * np.maximum(eigen[:, 2], 1e-300))
    safe = np.where(solvable[:, None, None], normal, np.eye(3))
    translation = np.linalg.solve(safe, np.where(solvable[:, None], target, 0.0)[..., None])[..., 0]  # (B, 3)
    solved = solvable & np.isfinite(translation).all(-1) & (translation[:, 2] >= MIN_DEPTH_M)
    return np.where(solved[:, None], translation, 0.0), solved


def fit_conditioning(joints3d: np.ndarray, used: np.ndarray, intrinsics: np.ndarray, translation: np.ndarray,
                     solved: np.ndarray) -> np.ndarray:
    """How much worse the joints a 2D fit used pin its distance than every joint would: (B, J, 3) root-relative
    metres + (B, J) bool used + K (3, 3) or (B, 3, 3) + (B, 3) fits + (B,) solved → (B,) ratio >= 1 of the
    along-ray standard deviations of the two least-squares solves, 1 where not solved.

    Why: the 2D fit's distance comes from the lever arm of the joints it sees. A person half behind a pole is
    fitted from a few close-together joints, and its distance is worse than the nominal 2D-fit noise says. Both
    solves are judged alike (unit pixel noise per joint, at the pixels where the fitted pose projects), so only the
    missing joints and their lever arm count, not the pose's own errors."""
    joints3d = np.asarray(joints3d, np.float64)  # (B, J, 3)
    k = np.broadcast_to(np.asarray(intrinsics, np.float64), (len(joints3d), 3, 3))  # (B, 3, 3)
    k = np.where(solved[:, None, None], k, np.eye(3))
    t = np.where(solved[:, None], translation, [0.0, 0.0, 1.0])  # (B, 3)
    finite = np.isfinite(joints3d).all(-1)  # (B, J)
    camera = np.where(finite[..., None], joints3d, 0.0) + t[:, None, :]  # (B, J, 3)
    ahead = finite & (camera[..., 2] > MIN_DEPTH_M)  # (B, J): joints that project
    depth = np.where(ahead, camera[..., 2], 1.0)
    fx, fy = k[:, 0, 0], k[:, 1, 1]  # (B,) each
    du, dv = fx[:, None] * camera[..., 0] / depth, fy[:, None] * camera[..., 1] / depth  # (B, J): u - cx, v - cy
    terms = np.stack([np.ones_like(du), du, dv, du ** 2 + dv ** 2], -1)  # (B, J, 4)
    ray = t / np.linalg.norm(t, axis=-1, keepdims=True)  # (B, 3)

    def along(select: np.ndarray) -> np.ndarray:  # (B,) ray^T N^-1 ray of the joints selected, inf if singular
        # N = sum_j of the rows [fx, 0, -du] and [0, fy, -dv] (root_translations) times themselves, in closed form
        n, su, sv, sq = np.einsum("bj,bjc->cb", select, terms)  # (B,) each
        normal = np.stack([np.stack([fx * fx * n, 0 * n, -fx * su], -1), np.stack([0 * n, fy * fy * n, -fy * sv], -1),
                           np.stack([-fx * su, -fy * sv, sq], -1)], -2)  # (B, 3, 3)
        scale = np.trace(normal, axis1=1, axis2=2)  # (B,)
        ok = np.linalg.det(normal) > 1e-10 * np.maximum(scale, 1e-300) ** 3  # (B,) not near-singular
        solved_ray = np.linalg.solve(np.where(ok[:, None, None], normal, np.eye(3)), ray[..., None])[..., 0]
        return np.where(ok, (ray * solved_ray).sum(-1), np.inf)

    with np.errstate(invalid="ignore", over="ignore"):
        ratio = np.sqrt(along((np.asarray(used, bool) & ahead).astype(np.float64)) / along(ahead.astype(np.float64)))
    return np.where(solved & np.isfinite(ratio), np.maximum(ratio, 1.0), 1.0)


def pose_lateral_sigma(joints3d: np.ndarray, used: np.ndarray) -> np.ndarray:
    """(B, J, 3) root-relative metres + (B, J) bool used → (B,) how far across the viewing ray a fit from those
    joints can put the root (m): the lifted pose's error at each used joint (depth.reliability's model: 3 cm at the
    root + half the joint's distance from it) combined as independent errors; 0 where none is used.

    Why: a fit places the root where the used joints' pixels say, minus the pose's offsets from the root to them.
    From the whole body that is 2-3 cm; from a head and shoulders seen over a pole, ~13 cm, whatever the depth or
    the lever arm along the ray (fit_conditioning) say."""
    joints3d = np.asarray(joints3d, np.float64)  # (B, J, 3)
    weight = np.where(np.asarray(used, bool) & np.isfinite(joints3d).all(-1), reliability(np.nan_to_num(joints3d)), 0.0)
    total = weight.sum(-1)  # (B,) inverse variance in units of the root's (RELIABILITY_SIGMA0_M²)
    with np.errstate(divide="ignore"):
        return np.where(total > 0, RELIABILITY_SIGMA0_M / np.sqrt(total), 0.0)


class FitQuality(NamedTuple):
    """What the root state needs of one fit besides the fit (temporal.measurement_covariance); the defaults judge
    a fit by its method alone."""

    conditioning: float = 1.0  # the 2D fit's fit_conditioning (1 = as good as from every joint)
    samples: int = 1  # the accepted joint depth samples of a DEPTH fit (0 and 1 count alike)
    lateral: float = 0.0  # m: pose_lateral_sigma of the joints the fit used


@dataclass(frozen=True)
class FitQualities:
    """The FitQuality of every fit of a batch, as (B,) arrays: `place` finds them, temporal.RootFilter uses them."""

    conditioning: np.ndarray  # (B,) fit_conditioning, 1 where not placed
    samples: np.ndarray  # (B,) int: the accepted joint depth samples of a DEPTH fit, 0 otherwise
    lateral: np.ndarray  # (B,) m: pose_lateral_sigma, 0 where not placed

    @classmethod
    def nominal(cls, batch: int) -> FitQualities:
        """`batch` fits judged by their method alone (FitQuality's defaults)."""
        return cls(np.ones(batch), np.ones(batch, np.int64), np.zeros(batch))

    @overload
    def __getitem__(self, index: int) -> FitQuality: ...

    @overload
    def __getitem__(self, index: slice) -> FitQualities: ...

    def __getitem__(self, index: int | slice) -> FitQuality | FitQualities:
        """[b]: fit b's FitQuality; [start:end]: those fits' FitQualities."""
        if isinstance(index, slice):
            return FitQualities(self.conditioning[index], self.samples[index], self.lateral[index])
        return FitQuality(float(self.conditioning[index]), int(self.samples[index]), float(self.lateral[index]))


@dataclass(frozen=True)
class Placement:
    translation: np.ndarray  # (B, 3) metres, 0 where not placed
    method: np.ndarray  # (B,) uint8: NOT_PLACED / REPROJECTION / DEPTH
    counts: Counter  # depth.* sample and fallback counters of this batch
    quality: FitQualities  # what the root state needs of each fit besides the fit


def place(joints3d: np.ndarray, pixels: np.ndarray, weights: np.ndarray, intrinsics: np.ndarray,
          depth: Sequence[DepthImage | None] | None = None, options: DepthOptions = DepthOptions()) -> Placement:
    """Root translations of a batch: the 2D fit (root_translations), then, for skeletons with a depth image
    (one per row, same size as its camera), the fit again with the accepted depth equations added.

    A skeleton falls back to its 2D fit, counted, when its depth image is missing (`depth.no_image`; the caller
    passes None for an image that does not fit the camera) or fewer than `depth_min_samples` joints keep a depth
    sample (`depth.too_few_samples`). Depth never moves the root far from 2D: samples are only believed within
    `depth_prior_gate` of the 2D fit's depth.
    """
    translation, solved = root_translations(joints3d, pixels, weights, intrinsics)
    method = np.where(solved, REPROJECTION, NOT_PLACED).astype(np.uint8)
    counts: Counter = Counter()
    pixels, weights = np.asarray(pixels, np.float64), np.asarray(weights, np.float64)
    with np.errstate(invalid="ignore"):
        usable = (weights > 0) & np.isfinite(pixels).all(-1) & solved[:, None]  # (B, J) the joints the fit used
    conditioning = fit_conditioning(joints3d, usable, intrinsics, translation, solved)
    used_samples = np.zeros(len(weights), np.int64)  # (B,)
    lateral = pose_lateral_sigma(joints3d, usable)  # (B,) the depth fit's t_x, t_y come from the same joints
    if depth is None:
        return Placement(translation, method, counts, FitQualities(conditioning, used_samples, lateral))
    roots = np.full(weights.shape, np.nan)  # (B, J) implied root depths, NaN = none
    for image in {id(d): d for d in depth if d is not None}.values():  # one image per source frame
        rows = np.array([d is image for d in depth]) & solved
        if rows.any():
            samples = sample_joint_depths(image, pixels[rows], usable[rows], options.depth_patch_radius)
            counts["depth.rejected_hole"] += int((usable[rows] & ~np.isfinite(samples)).sum())
            roots[rows] = root_depth_samples(np.asarray(joints3d, np.float64)[rows], samples,
                                             translation[rows, 2], options, counts)
    with_image = solved & np.array([d is not None for d in depth])
    enough = with_image & (np.isfinite(roots).sum(-1) >= options.depth_min_samples)
    counts["depth.no_image"] += int((solved & ~with_image).sum())
    counts["depth.too_few_samples"] += int((with_image & ~enough).sum())
    if enough.any():
        near_root = reliability(np.asarray(joints3d, np.float64)[enough])  # (B', J)
        depth_t, depth_ok = root_translations(  # once depth fixes t_z, the joints near the root fix t_x, t_y best
            np.asarray(joints3d)[enough], pixels[enough], weights[enough] * near_root, np.broadcast_to(
                intrinsics, (len(weights), 3, 3))[enough], roots[enough], options.depth_weight * weights[enough]
            * reliability(np.asarray(joints3d, np.float64)[enough], translation[enough, 2]))
        rows = np.flatnonzero(enough)[depth_ok]
        translation[rows] = depth_t[depth_ok]
        method[rows] = DEPTH
        used_samples[rows] = np.isfinite(roots[rows]).sum(-1)
        counts["depth.placed"] += len(rows)
    return Placement(translation, method, counts, FitQualities(conditioning, used_samples, lateral))
