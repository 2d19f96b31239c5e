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
# Skin/clothes surface in front of each H36M-17 joint along the camera ray, metres (trunk ~ 10 cm, limbs 3-6 cm).
SURFACE_OFFSET_M = np.array([0.10, 0.07, 0.05, 0.04, 0.07, 0.05, 0.04, 0.10, 0.10, 0.06, 0.08,
                             0.05, 0.04, 0.03, 0.05, 0.04, 0.03])
MAD_GATE = 3.0  # samples more than this many robust sigmas (MAD of the person's group) from its median: rejected
# The lifted skeleton's relative depths are surest near the root (a leaning torso, a reaching arm: 20-30 cm off
# at the head or the wrists): a sample's weight is (SIGMA0 / (SIGMA0 + SLOPE x its joint's distance to the root))².
RELIABILITY_SIGMA0_M, RELIABILITY_SLOPE = 0.03, 0.15
GATE_FLOOR_M = 0.08  # ... but never gated tighter than this plus 2 % of the depth (sensor noise, body shape)
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
    depth_min_samples: int = tunable(3, "Joints with an accepted depth sample needed to place a skeleton with "
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


def reliability(joints3d: np.ndarray) -> np.ndarray:
    """(B, J, 3) root-relative joints → (B, J) weight of each joint's depth sample (1 at the root)."""
    distance = np.linalg.norm(joints3d - joints3d[:, :1], axis=-1)  # (B, J)
    return (RELIABILITY_SIGMA0_M / (RELIABILITY_SIGMA0_M + RELIABILITY_SLOPE * distance)) ** 2


def root_depth_samples(joints3d: np.ndarray, samples: np.ndarray, prior_z: np.ndarray, options: DepthOptions,
                       counts: Counter) -> np.ndarray:
    """(B, J, 3) root-relative joints + (B, J) sampled depths + (B,) 2D-fit root depth → (B, J) implied root
    depths, NaN where rejected. Counts `depth.samples_used`, `depth.rejected_in_front` (occluders, or a joint
    the lifted pose puts too far back), `depth.rejected_behind` (background past the body)."""
    implied = samples - joints3d[..., 2] + SURFACE_OFFSET_M[: joints3d.shape[1]]  # (B, J)
    weight = reliability(joints3d)  # (B, J)
    known = np.isfinite(implied)
    prior = np.asarray(prior_z, np.float64)[:, None]  # (B, 1)
    near_prior = known & (np.abs(implied - prior) <= options.depth_prior_gate * prior)
    # Mode, not mean: the person's samples agree with each other, an occluder's or the background's form another
    # group. Each sample's support = the reliability of the samples within the gate floor of it; the best
    # supported one (ties: nearest the 2D fit) seeds the centre, refined as the median of its group.
    window = GATE_FLOOR_M + 0.02 * prior  # (B, 1)
    candidate = np.where(near_prior, implied, np.nan)  # (B, J)
    with np.errstate(invalid="ignore"):
        close = np.abs(candidate[:, :, None] - candidate[:, None, :]) <= window[..., None]  # (B, J, J)
    support = (close * weight[:, None, :]).sum(-1) - 1e-3 * np.where(near_prior, np.abs(candidate - prior), 1.0)
    support = np.where(near_prior, support, -np.inf)
    seed = np.take_along_axis(candidate, support.argmax(-1)[:, None], -1)  # (B, 1)
    group = near_prior & (np.abs(candidate - seed) <= window)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a person without any sample: NaN, handled below
        centre = np.nanmedian(np.where(group, implied, np.nan), axis=-1, keepdims=True)  # (B, 1)
        spread = 1.4826 * np.nanmedian(np.abs(np.where(group, implied, np.nan) - centre), axis=-1, keepdims=True)
    gate = np.maximum(MAD_GATE * np.nan_to_num(spread), window)
    accepted = near_prior & (np.abs(implied - centre) <= gate)
    reference = np.where(np.isfinite(centre), centre, prior)
    rejected = known & ~accepted
    counts["depth.samples_used"] += int(accepted.sum())
    counts["depth.rejected_in_front"] += int((rejected & (implied < reference)).sum())
    counts["depth.rejected_behind"] += int((rejected & (implied >= reference)).sum())
    return np.where(accepted, implied, np.nan)
