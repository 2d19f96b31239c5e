"""Camera model of the node and the sanity rules for intrinsics (ROS-free).

Absurd intrinsics (fx = 1e-30, a principal point far outside the image) would still "place" a skeleton,
at a depth that means nothing; they are refused here, so such skeletons stay root-relative and say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Focal length in pixels relative to the larger image side: 0.05 is a ~170° fisheye, 50 a ~1° telephoto.
MIN_FOCAL_RATIO = 0.05
MAX_FOCAL_RATIO = 50.0
MAX_IMAGE_SIDE = 100_000


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    intrinsics: np.ndarray | None  # (3, 3) K, None = unknown (outputs stay root-relative)


def intrinsics_problem(width: int, height: int, k: Sequence[float] | np.ndarray) -> str | None:
    """Why (width, height, K) cannot be used for placement, or None when it is sane."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        return f"image size {width}x{height} is outside 1..{MAX_IMAGE_SIDE} px"
    k = np.asarray(k, np.float64)
    if k.size != 9 or not np.isfinite(k).all():
        return "K must be 9 finite numbers"
    k = k.reshape(3, 3)
    side = max(width, height)
    for name, focal in (("fx", k[0, 0]), ("fy", k[1, 1])):
        if not MIN_FOCAL_RATIO * side <= focal <= MAX_FOCAL_RATIO * side:
            return (f"{name}={focal:.6g} px is not within [{MIN_FOCAL_RATIO}, {MAX_FOCAL_RATIO}] x the image side "
                    f"({side} px)")
    if not (0 <= k[0, 2] <= width and 0 <= k[1, 2] <= height):
        return f"principal point ({k[0, 2]:.6g}, {k[1, 2]:.6g}) is outside the {width}x{height} image"
    if not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0.0:
        return f"K's last row must be (0, 0, 1) and K[1][0] must be 0, got {k[2].tolist()} and {k[1, 0]}"
    return None


def fallback_intrinsics(width: int, height: int, focal_length: float) -> np.ndarray | None:
    """K from the focal_length parameter (principal point at the image centre); None when focal_length is 0."""
    if focal_length <= 0:
        return None
    return np.array([[focal_length, 0, width / 2], [0, focal_length, height / 2], [0, 0, 1]], np.float64)
