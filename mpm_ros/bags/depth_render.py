"""Rendered aligned depth images of mocap people, with an RGB-D camera's errors (numpy only, no ROS).

Bodies are capsules along the H36M-17 bones (limb radii of an adult), plus a floor and a back wall; occluders
are capsules too. Rays are cast per capsule only inside its image bounding box, so a 640x480 frame of two people
costs a few milliseconds. The error model is a stereo RGB-D camera's (RealSense-like): noise growing with
distance² (partly spatially correlated), random holes and blobs, no data beyond the range, flying pixels and
holes at depth edges, quantisation to millimetres (16UC1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.skeleton import H36M_BONES

# Capsule radius (m) per H36M bone (parent, child), by child joint: pelvis-hips, thighs, shins, torso, neck,
# head, shoulder girdle, upper arms, forearms.
BONE_RADIUS_M = {1: 0.09, 2: 0.075, 3: 0.05, 4: 0.09, 5: 0.075, 6: 0.05, 7: 0.12, 8: 0.12, 9: 0.055, 10: 0.095,
                 11: 0.06, 12: 0.045, 13: 0.037, 14: 0.06, 15: 0.045, 16: 0.037}
# Extra capsules filling the trunk's width: hip to hip, shoulder to shoulder.
EXTRA_CAPSULES = ((1, 4, 0.10), (11, 14, 0.07))
MAX_RANGE_M, MIN_RANGE_M = 10.0, 0.3
BACKGROUND_ID = -1  # floor, wall or nothing


@dataclass(frozen=True)
class DepthNoise:
    """A stereo RGB-D camera's depth errors (defaults: a RealSense D4xx-like camera at 640x480)."""

    sigma_per_m2: float = 0.0025  # depth noise sigma = this x z² (m): 2.5 mm at 1 m, 61 mm at 5 m
    correlated: float = 0.5  # share of the noise variance that is spatially correlated (8-px blocks)
    hole_rate: float = 0.01  # isolated invalid pixels
    blobs: int = 3  # invalid blobs per frame (reflective / textureless patches), radius 2-8 px
    edge_jump_m: float = 0.1  # depth discontinuity that makes an edge
    flying_rate: float = 0.5  # edge pixels replaced by a blend of both sides (flying pixels)
    edge_hole_rate: float = 0.3  # edge pixels without data (stereo shadow)


@dataclass(frozen=True)
class Capsule:
    a: np.ndarray  # (3,) camera frame metres
    b: np.ndarray  # (3,)
    radius: float
    object_id: int  # person track id, or an occluder's id


def body_capsules(joints_cam: np.ndarray, object_id: int) -> list[Capsule]:
    """(17, 3) camera-frame joints → the capsules of one body."""
    capsules = [Capsule(joints_cam[p], joints_cam[c], BONE_RADIUS_M[c], object_id) for p, c in H36M_BONES]
    return capsules + [Capsule(joints_cam[a], joints_cam[b], r, object_id) for a, b, r in EXTRA_CAPSULES]


def _ray_capsule(rays: np.ndarray, capsule: Capsule) -> np.ndarray:
    """(N, 3) rays from the camera centre with z = 1 → (N,) z-depth of the first hit, inf where none."""
    a, b, r = capsule.a, capsule.b, capsule.radius
    ba, oa = b - a, -a
    baba, baoa, oaoa = ba @ ba, ba @ oa, oa @ oa
    bard, rdoa, dd = rays @ ba, rays @ oa, np.einsum("ij,ij->i", rays, rays)
    qa = baba * dd - bard ** 2
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa ** 2 - r * r * baba
    h = qb ** 2 - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-qb - np.sqrt(h)) / qa
        y = baoa + t * bard
        side = (h >= 0) & (y > 0) & (y < baba) & (t > 0)
        cap = np.where((y <= 0)[:, None], -a, -b)  # (N, 3) origin minus the cap's centre
        cb = np.einsum("ij,ij->i", rays, cap)
        cc = np.einsum("ij,ij->i", cap, cap) - r * r
        hc = cb ** 2 - dd * cc
        tc = (-cb - np.sqrt(hc)) / dd
    return np.where(side, t, np.where((hc >= 0) & (tc > 0), tc, np.inf))


class DepthRenderer:
    """Noise-free z-buffer of capsules over a floor and a wall, for one pinhole camera."""

    def __init__(self, intrinsics: np.ndarray, width: int, height: int, world_to_cam: np.ndarray,
                 cam_translation: np.ndarray, wall_depth_m: float) -> None:
        self.k = np.asarray(intrinsics, np.float64)
        self.width, self.height = width, height
        u, v = np.meshgrid(np.arange(width) + 0.0, np.arange(height) + 0.0)
        self.rays = np.stack([(u - self.k[0, 2]) / self.k[0, 0], (v - self.k[1, 2]) / self.k[1, 1],
                              np.ones_like(u)], -1)  # (H, W, 3), z = 1: the ray parameter is the z-depth
        # Background: floor (world z = 0) in front of a fronto-parallel wall at wall_depth_m.
        rotation = np.asarray(world_to_cam, np.float64)
        centre = -rotation.T @ np.asarray(cam_translation, np.float64)  # camera centre, world
        up = (self.rays @ rotation)[..., 2]  # (H, W) world z of each ray direction
        with np.errstate(divide="ignore", invalid="ignore"):
            floor = np.where(up < -1e-9, -centre[2] / up, np.inf)
        self.background = np.minimum(floor, wall_depth_m)  # (H, W)

    def render(self, capsules: list[Capsule]) -> tuple[np.ndarray, np.ndarray]:
        """→ (H, W) z-depth in metres and (H, W) int32 object id (BACKGROUND_ID for floor / wall)."""
        depth = self.background.copy()
        ids = np.full(depth.shape, BACKGROUND_ID, np.int32)
        for capsule in capsules:
            box = self._box(capsule)
            if box is None:
                continue
            u0, u1, v0, v1 = box
            rays = self.rays[v0:v1, u0:u1].reshape(-1, 3)
            hit = _ray_capsule(rays, capsule).reshape(v1 - v0, u1 - u0)
            region, region_ids = depth[v0:v1, u0:u1], ids[v0:v1, u0:u1]
            closer = hit < region
            region[closer] = hit[closer]
            region_ids[closer] = capsule.object_id
        return depth, ids

    def _box(self, capsule: Capsule) -> tuple[int, int, int, int] | None:
        """Pixel bounding box (u0, u1, v0, v1) of a capsule, the whole image when it reaches the camera."""
        ends = np.stack([capsule.a, capsule.b])
        if ends[:, 2].max() + capsule.radius <= MIN_RANGE_M:
            return None
        if ends[:, 2].min() - capsule.radius <= 0.05:
            return 0, self.width, 0, self.height
        uv = ends[:, :2] / ends[:, 2:] * self.k[[0, 1], [0, 1]] + self.k[:2, 2]
        pad = capsule.radius * self.k[0, 0] / (ends[:, 2].min() - capsule.radius) + 2
        u0, v0 = np.floor(uv.min(0) - pad).astype(int)
        u1, v1 = np.ceil(uv.max(0) + pad).astype(int) + 1
        u0, u1, v0, v1 = max(u0, 0), min(u1, self.width), max(v0, 0), min(v1, self.height)
        return (u0, u1, v0, v1) if u0 < u1 and v0 < v1 else None


def _block_noise(rng: np.random.Generator, shape: tuple[int, int], block: int = 8) -> np.ndarray:
    coarse = rng.standard_normal((shape[0] // block + 2, shape[1] // block + 2))
    return np.kron(coarse, np.ones((block, block)))[:shape[0], :shape[1]]


def sensor_depth(depth: np.ndarray, rng: np.random.Generator, noise: DepthNoise = DepthNoise()) -> np.ndarray:
    """Noise-free (H, W) z-depth (m) → what the camera reports: (H, W) uint16 millimetres, 0 = no data."""
    height, width = depth.shape
    z = np.where(np.isfinite(depth), depth, 0.0)
    sigma = noise.sigma_per_m2 * z ** 2
    jitter = np.sqrt(noise.correlated) * _block_noise(rng, z.shape) + \
        np.sqrt(1 - noise.correlated) * rng.standard_normal(z.shape)
    measured = z + sigma * jitter
    # Depth edges: flying pixels (a blend of the two sides) or holes (stereo shadow).
    right = np.abs(np.diff(z, axis=1, append=z[:, -1:])) > noise.edge_jump_m
    down = np.abs(np.diff(z, axis=0, append=z[-1:])) > noise.edge_jump_m
    edge = right | down
    neighbour = np.where(right, np.roll(z, -1, axis=1), np.roll(z, -1, axis=0))
    draw = rng.random(z.shape)
    flying = edge & (draw < noise.flying_rate)
    blend = rng.random(z.shape)
    measured = np.where(flying, blend * measured + (1 - blend) * neighbour, measured)
    invalid = edge & (draw >= noise.flying_rate) & (draw < noise.flying_rate + noise.edge_hole_rate)
    invalid |= rng.random(z.shape) < noise.hole_rate
    vv, uu = np.mgrid[0:height, 0:width]
    for _ in range(noise.blobs):
        cu, cv, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(2, 8)
        invalid |= (uu - cu) ** 2 + (vv - cv) ** 2 < r * r
    invalid |= (measured < MIN_RANGE_M) | (measured > MAX_RANGE_M) | ~np.isfinite(depth)
    return np.where(invalid, 0, np.rint(measured * 1000.0)).astype(np.uint16)
