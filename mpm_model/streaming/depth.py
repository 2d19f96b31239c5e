"""Aligned depth images for root placement (ROS-free): decoding, robust sampling at the joints, gating.

An RGB-D camera's depth image aligned to the colour image (same size and intrinsics as its camera_info) pins
the distance the 2D fit can only guess from the person's size. It lies in three ways: holes (0 / NaN), occluders
in front of the person, and background seen past thin limbs or through edge "flying pixels". Each visible joint
gets the median depth of a small patch; the lifted skeleton says where that joint is relative to the root, and
the body's surface lies a per-joint offset in front of the joint. So each sample implies a root depth
    t_z ≈ d_j - Z_j + r_j
and the samples of one person must agree: first with the 2D fit (within `prior_gate` of its depth — a depth
image in the wrong unit or of another scene never moves the root), then with each other (median / MAD gate).
Whatever is rejected is counted by reason; too few good samples → the 2D fit stands, counted.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from mpm_model.tunable import check, tunable

MIN_DEPTH_M = 0.1  # closer or farther values are not measurements: treated as holes
MAX_DEPTH_M = 20.0
# Skin/clothes surface in front of each H36M-17 joint along the camera ray, metres: half an adult's trunk depth
# (~12 cm at pelvis, spine and thorax), hip centre to the front of the thigh root ~10 cm, limbs 3.5-7 cm.
SURFACE_OFFSET_M = np.array([0.12, 0.10, 0.06, 0.045, 0.10, 0.06, 0.045, 0.12, 0.12, 0.06, 0.09,
                             0.07, 0.045, 0.035, 0.07, 0.045, 0.035])
PELVIS_HALF_WIDTH_M = 0.17  # half the hips' breadth (bi-trochanteric ~ 34 cm with soft tissue)
MAD_GATE = 3.0  # samples more than this many robust sigmas (MAD of the person's group) from its median: rejected
# The lifted skeleton's relative depths are surest near the root (a leaning torso, a reaching arm: 20-30 cm off
# at the head or the wrists): a sample's weight is (SIGMA0 / (SIGMA0 + SLOPE x its joint's distance to the root))².
RELIABILITY_SIGMA0_M, RELIABILITY_SLOPE = 0.03, 0.5
SENSOR_NOISE_PER_M2 = 0.0025  # stereo RGB-D depth noise sigma ~ k z^2 (RealSense D4xx class; z in m)
GATE_FLOOR_M = 0.08  # ... but never gated tighter than this plus 2 % of the depth (sensor noise, body shape)
# A group of samples holding this share of a person's samples (and 2 x depth_min_samples) is believed up to a
# factor 1 + WIDE_GATE x depth_prior_gate beyond the 2D fit's depth: a fully seen person whose 2D fit is 30-45 %
# too near (a crouching or bending pose the lifter shrinks) is still placed by depth, while a depth image twice
# too far stays out. Never nearer than the gate: there a strong group is as likely an occluder hiding the person.
STRONG_SHARE, WIDE_GATE = 2 / 3, 3.0
ENCODINGS = {"16UC1": ("u2", 1e-3), "mono16": ("u2", 1e-3), "32FC1": ("f4", 1.0)}  # → numpy type, metres per unit


@dataclass(frozen=True)
class DepthImage:
    """One aligned depth image in metres; NaN = no data (holes, out-of-range values)."""

    depth_m: np.ndarray  # (H, W) float32
    stamp_ns: int = 0

    @property
    def width(self) -> int:
        return int(self.depth_m.shape[1])

    @property
    def height(self) -> int:
        return int(self.depth_m.shape[0])


@dataclass(frozen=True)
class DepthOptions:
    """How depth samples are taken and judged (all may change while streaming)."""

    depth_patch_radius: int = tunable(2, "Depth at a joint = median of the valid pixels of a (2r+1)^2 patch "
                                      "around it (r in pixels)", 0, 10)
    depth_min_samples: int = tunable(2, "Joints with an accepted depth sample needed to place a skeleton with "
                                     "depth (else its 2D fit stands, counted)", 1, 17)
    depth_prior_gate: float = tunable(0.25, "Depth samples farther from the 2D fit's root depth than this "
                                      "fraction of it are rejected (wrong units, another surface)", 0.01, 1.0)
    depth_weight: float = tunable(1.0, "Weight of a depth equation relative to a joint's reprojection "
                                  "equations (both in metres)", 0.01, 100.0)

    def __post_init__(self) -> None:
        check(self)


def decode_depth(data: bytes | memoryview | np.ndarray, encoding: str, width: int, height: int, step: int,
                 big_endian: bool = False) -> tuple[np.ndarray | None, str | None]:
    """sensor_msgs/Image fields → ((H, W) float32 metres with NaN for no data, None) or (None, problem).

    `16UC1`/`mono16` are millimetres, `32FC1` metres; 0, NaN, inf and values outside [MIN_DEPTH_M, MAX_DEPTH_M]
    become NaN. A wrong encoding, a size or step that does not fit the data → a problem, never an exception.
    """
    if encoding not in ENCODINGS:
        return None, f"encoding {encoding[:32]!r} is not one of {sorted(ENCODINGS)}"
    kind, scale = ENCODINGS[encoding]
    itemsize = np.dtype(kind).itemsize
    if not (0 < width <= 100_000 and 0 < height <= 100_000) or step < width * itemsize:
        return None, f"size {width}x{height} with step {step} does not fit {encoding}"
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size != step * height:
        return None, f"{buffer.size} bytes of data, expected step {step} x height {height} = {step * height}"
    rows = buffer.reshape(height, step)[:, :width * itemsize]
    dtype = np.dtype(kind).newbyteorder(">" if big_endian else "<")
    values = np.ascontiguousarray(rows).view(dtype).reshape(height, width).astype(np.float32) * np.float32(scale)
    with np.errstate(invalid="ignore"):
        values[~((values >= MIN_DEPTH_M) & (values <= MAX_DEPTH_M))] = np.nan  # 0, NaN, inf, absurd → no data
    return values, None


def sample_joint_depths(depth: DepthImage, pixels: np.ndarray, usable: np.ndarray, radius: int) -> np.ndarray:
    """(B, J, 2) pixels + (B, J) usable → (B, J) median depth (m) of the valid pixels of each joint's patch;
    NaN where the joint is unusable, outside the image, or its patch has fewer than a third valid pixels."""
    offsets = np.arange(-radius, radius + 1)
    centre = np.rint(np.nan_to_num(np.asarray(pixels, np.float64), nan=-1e6)).astype(np.int64)  # (B, J, 2)
    cols = centre[..., 0, None, None] + offsets[None, :]  # (B, J, 1, P1)
    rows = centre[..., 1, None, None] + offsets[:, None]  # (B, J, P1, 1)
    inside = (cols >= 0) & (cols < depth.width) & (rows >= 0) & (rows < depth.height)  # (B, J, P1, P1)
    patch = depth.depth_m[np.clip(rows, 0, depth.height - 1), np.clip(cols, 0, depth.width - 1)]
    patch = np.where(inside & usable[..., None, None], patch, np.nan).reshape(*usable.shape, -1)  # (B, J, P)
    enough = np.isfinite(patch).sum(-1) * 3 >= patch.shape[-1]
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(enough[..., None], patch, 0.0), axis=-1) if patch.size else \
            np.zeros(usable.shape)
    return np.where(enough, median, np.nan)


def surface_offsets(joints3d: np.ndarray) -> np.ndarray:
    """(B, J, 3) root-relative joints → (B, J) how far the body's surface lies in front of each joint along the
    camera's axis. SURFACE_OFFSET_M, except at the pelvis, whose cross-section is an ellipse wider than deep: seen
    from the side, the hip lies PELVIS_HALF_WIDTH_M in front of it, not the belly's SURFACE_OFFSET_M[0]."""
    offsets = np.broadcast_to(SURFACE_OFFSET_M[: joints3d.shape[1]], joints3d.shape[:2]).copy()
    if joints3d.shape[1] != len(SURFACE_OFFSET_M):
        return offsets
    lateral, up = joints3d[:, 4] - joints3d[:, 1], joints3d[:, 8] - joints3d[:, 0]  # hips, pelvis → thorax (B, 3)
    forward = np.cross(up, lateral)  # (B, 3)
    lateral = np.cross(forward, up)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.abs(np.stack([lateral[:, 2], forward[:, 2]], -1)) / np.stack(
            [np.linalg.norm(lateral, axis=-1), np.linalg.norm(forward, axis=-1)], -1)  # (B, 2) camera axis in L, F
        side = along[:, 0] / np.linalg.norm(along, axis=-1)  # (B,) 0 facing the camera, 1 side on
    side = np.where(np.isfinite(side), side, 0.0)
    offsets[:, 0] = 1.0 / np.sqrt((side / PELVIS_HALF_WIDTH_M) ** 2 + (1 - side ** 2) / SURFACE_OFFSET_M[0] ** 2)
    return offsets


def reliability(joints3d: np.ndarray, depth_m: np.ndarray | None = None) -> np.ndarray:
    """(B, J, 3) root-relative joints [+ (B,) the person's distance] → (B, J) weight of each joint's depth sample
    (1 at the root): inverse variance of the lifted pose's error at that joint, plus the sensor's noise at that
    distance when given (far away the noise dominates and every joint counts alike)."""
    distance = np.linalg.norm(joints3d - joints3d[:, :1], axis=-1)  # (B, J)
    noise = 0.0 if depth_m is None else (SENSOR_NOISE_PER_M2 * np.asarray(depth_m, np.float64)[:, None] ** 2) ** 2
    return (RELIABILITY_SIGMA0_M ** 2 + noise) / ((RELIABILITY_SIGMA0_M + RELIABILITY_SLOPE * distance) ** 2 + noise)


def _best_group(implied: np.ndarray, weight: np.ndarray, candidate: np.ndarray, prior: np.ndarray,
                window: np.ndarray) -> np.ndarray:
    """(B, J) implied root depths, reliabilities and candidate flags → (B, J) the best-supported group.

    Mode, not mean: the person's samples agree with each other, an occluder's or the background's form another
    group. Each sample's support = the reliability of the candidates within `window` of it; the best supported
    one (ties: nearest the 2D fit) seeds the group."""
    values = np.where(candidate, implied, np.nan)  # (B, J)
    with np.errstate(invalid="ignore"):
        close = np.abs(values[:, :, None] - values[:, None, :]) <= window[..., None]  # (B, J, J)
    support = (close * weight[:, None, :]).sum(-1) - 1e-3 * np.where(candidate, np.abs(values - prior), 1.0)
    seed = np.take_along_axis(values, np.where(candidate, support, -np.inf).argmax(-1)[:, None], -1)  # (B, 1)
    return candidate & (np.abs(values - seed) <= window)


def root_depth_samples(joints3d: np.ndarray, samples: np.ndarray, prior_z: np.ndarray, options: DepthOptions,
                       counts: Counter) -> np.ndarray:
    """(B, J, 3) root-relative joints + (B, J) sampled depths + (B,) 2D-fit root depth → (B, J) implied root
    depths, NaN where rejected. Counts `depth.samples_used`, `depth.rejected_in_front` (occluders, or a joint
    the lifted pose puts too far back), `depth.rejected_behind` (background past the body) and
    `depth.beyond_prior_gate` (skeletons placed by a strong group outside the prior gate)."""
    implied = samples - joints3d[..., 2] + surface_offsets(joints3d)  # (B, J)
    weight = reliability(joints3d, prior_z)  # (B, J)
    known = np.isfinite(implied)
    prior = np.asarray(prior_z, np.float64)[:, None]  # (B, 1)
    window = GATE_FLOOR_M + 0.02 * prior  # (B, 1)
    # The 2D fit can be far off (a pose the lifter gets wrong, few joints): a group that holds most of the
    # person's samples is believed up to `factor` beyond it, a weak one only within the gate.
    factor = 1.0 + WIDE_GATE * options.depth_prior_gate
    with np.errstate(invalid="ignore"):
        near = known & (np.abs(implied - prior) <= options.depth_prior_gate * prior)  # (B, J)
        reach = near | (known & (implied > prior) & (implied <= factor * prior))
    wide = _best_group(implied, weight, reach, prior, window)
    strong = (wide.sum(-1) >= np.maximum(2 * options.depth_min_samples, STRONG_SHARE * known.sum(-1)))[:, None]
    strict = _best_group(implied, weight, near, prior, window)
    group = np.where(strong, wide, strict)  # (B, J)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a person without any sample: NaN, handled below
        centre = np.nanmedian(np.where(group, implied, np.nan), axis=-1, keepdims=True)  # (B, 1)
        spread = 1.4826 * np.nanmedian(np.abs(np.where(group, implied, np.nan) - centre), axis=-1, keepdims=True)
    gate = np.maximum(MAD_GATE * np.nan_to_num(spread), window)
    with np.errstate(invalid="ignore"):
        accepted = np.where(strong, reach, near) & (np.abs(implied - centre) <= gate)
    reference = np.where(np.isfinite(centre), centre, prior)
    rejected = known & ~accepted
    counts["depth.samples_used"] += int(accepted.sum())
    counts["depth.rejected_in_front"] += int((rejected & (implied < reference)).sum())
    counts["depth.rejected_behind"] += int((rejected & (implied >= reference)).sum())
    counts["depth.beyond_prior_gate"] += int((strong[:, 0] & (np.abs(centre - prior) >
                                                              options.depth_prior_gate * prior)[:, 0]).sum())
    return np.where(accepted, implied, np.nan)
