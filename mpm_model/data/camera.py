"""Virtual pinhole cameras (Human3.6M-like rigs and robot-mounted cameras), projection and VideoPose3D
screen normalisation.

Camera frame: x right, y down, z forward (OpenCV). World frame: z up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Human3.6M cameras: focal ≈ 1145 px on 1000×1000 (two are 1000×1002) images, 3–7 m from the actor.
H36M_FOCAL_PX = 1145.0
H36M_IMAGE_SIZE = 1000
# Robot cameras: common sensor resolutions, horizontal field of view 55–90°, mounted 0.3–2.0 m high,
# 1.5–10 m from the person, pitched at most ±30°.
ROBOT_IMAGE_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (848, 480), (1280, 720), (1920, 1080))
ROBOT_HFOV_DEG = (55.0, 90.0)
ROBOT_HEIGHT_M = (0.3, 2.0)
ROBOT_DISTANCE_M = (1.5, 10.0)
ROBOT_MAX_PITCH_DEG = 30.0
CAMERA_KINDS = ("h36m", "robot")


@dataclass(frozen=True, eq=False)
class VirtualCamera:
    """Pinhole camera; `rotation` (3, 3) and `translation` (3,) map world → camera: R @ p + t."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=np.float64)
        translation = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3) or translation.shape != (3,):
            raise ValueError("camera rotation must be (3, 3) and translation (3,), "
                             f"got {rotation.shape}, {translation.shape}")
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
            raise ValueError("camera rotation must be a proper rotation matrix")
        if min(self.fx, self.fy) <= 0 or min(self.width, self.height) <= 0:
            raise ValueError(f"camera focal lengths and image size must be > 0, got fx={self.fx} fy={self.fy} "
                             f"size={self.width}x{self.height}")
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @property
    def intrinsics(self) -> np.ndarray:
        """K (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def center(self) -> np.ndarray:
        """Camera position in the world (3,)."""
        return -self.rotation.T @ self.translation


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World → camera rotation (3, 3) for a camera at `position` looking at `target`, world z up."""
    forward = np.asarray(target, np.float64) - np.asarray(position, np.float64)
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("look_at: camera position equals target")
    forward /= norm
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("look_at: camera looks straight up or down; its roll is undefined")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def sample_camera(
    rng: np.random.Generator,
    target_world: np.ndarray,
    focal: float = H36M_FOCAL_PX,
    focal_jitter: float = 0.05,
    width: int = H36M_IMAGE_SIZE,
    height: int = H36M_IMAGE_SIZE,
    distance: tuple[float, float] = (3.0, 7.0),
    elevation_deg: tuple[float, float] = (-10.0, 30.0),
) -> VirtualCamera:
    """A Human3.6M-like camera looking at `target_world` (3,) from a random direction.

    Focal ±`focal_jitter`, distance and elevation uniform in their ranges, azimuth uniform in
    [0, 2π), principal point at the image centre (so a horizontal flip of the camera-frame pose is
    exactly a sign flip of the normalised 2D x).
    """
    target = np.asarray(target_world, dtype=np.float64).reshape(-1)
    if target.shape != (3,) or not np.isfinite(target).all():
        raise ValueError(f"sample_camera: target_world must be 3 finite numbers, got {target_world!r}")
    f = focal * rng.uniform(1.0 - focal_jitter, 1.0 + focal_jitter)
    dist = rng.uniform(*distance)
    elevation = np.deg2rad(rng.uniform(*elevation_deg))
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    direction = [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
    offset = dist * np.array(direction)
    position = target + offset
    rotation = look_at(position, target)
    return VirtualCamera(f, f, width / 2.0, height / 2.0, width, height, rotation, -rotation @ position)


def sample_robot_camera(rng: np.random.Generator, target_world: np.ndarray) -> VirtualCamera:
    """A robot-mounted camera near `target_world` (3,) (the person's root): random resolution and field of
    view, mounting height, ground distance and azimuth; aimed off the person so they are off-centre (up to
    40 % of the half field of view) and pitch clipped to ±30°. Close cameras cut the person off (joints
    outside the image are masked by the datasets). Principal point at the image centre (flip-consistent).
    """
    target = np.asarray(target_world, dtype=np.float64).reshape(-1)
    if target.shape != (3,) or not np.isfinite(target).all():
        raise ValueError(f"sample_robot_camera: target_world must be 3 finite numbers, got {target_world!r}")
    width, height = ROBOT_IMAGE_SIZES[rng.integers(len(ROBOT_IMAGE_SIZES))]
    half_h = np.deg2rad(rng.uniform(*ROBOT_HFOV_DEG)) / 2.0
    focal = width / 2.0 / np.tan(half_h)
    half_v = np.arctan(height / 2.0 / focal)
    distance = rng.uniform(*ROBOT_DISTANCE_M)
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    ground = np.array([np.cos(azimuth), np.sin(azimuth)])
    position = np.array([*(target[:2] + distance * ground), rng.uniform(*ROBOT_HEIGHT_M)])
    yaw = np.arctan2(-ground[1], -ground[0]) + rng.uniform(-0.4, 0.4) * half_h  # towards the person, off-centre
    level_pitch = np.arctan2(target[2] - position[2], distance)  # pitch that centres the root vertically
    max_pitch = np.deg2rad(ROBOT_MAX_PITCH_DEG)
    pitch = np.clip(level_pitch + rng.uniform(-0.4, 0.4) * half_v, -max_pitch, max_pitch)
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    rotation = look_at(position, position + forward)
    return VirtualCamera(focal, focal, width / 2.0, height / 2.0, width, height, rotation, -rotation @ position)


def sample_any_camera(rng: np.random.Generator, target_world: np.ndarray, kind: str) -> VirtualCamera:
    """`kind` "h36m" (studio rig, `sample_camera`) or "robot" (`sample_robot_camera`)."""
    if kind == "h36m":
        return sample_camera(rng, target_world)
    if kind == "robot":
        return sample_robot_camera(rng, target_world)
    raise ValueError(f"camera kind must be one of {CAMERA_KINDS}, got {kind!r}")


def keep_in_front(cam: VirtualCamera, points_world: np.ndarray, min_depth: float = 0.3) -> VirtualCamera:
    """Move `cam` back along its optical axis until every (..., 3) world point is >= `min_depth` in front.

    Real sequences walk 10 m and more, past a camera placed near the person: backing off keeps every
    projection valid (what then leaves the image is masked) instead of failing on points behind the lens.
    """
    depth = (np.asarray(points_world, np.float64).reshape(-1, 3) @ cam.rotation.T + cam.translation)[:, 2]
    shortfall = float(min_depth - depth.min()) if depth.size else 0.0
    if shortfall <= 0:
        return cam
    translation = cam.translation + np.array([0.0, 0.0, shortfall])  # camera centre moves back by `shortfall`
    return VirtualCamera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height, cam.rotation, translation)


def world_to_camera(points: np.ndarray, cam: VirtualCamera) -> np.ndarray:
    """(..., 3) world points → (..., 3) camera-frame points."""
    points = np.asarray(points)
    if points.shape[-1] != 3:
        raise ValueError(f"world_to_camera: expected (..., 3) points, got {points.shape}")
    return (points @ cam.rotation.T + cam.translation).astype(np.result_type(points.dtype, np.float32))


def project(points_cam: np.ndarray, cam: VirtualCamera) -> np.ndarray:
    """(..., 3) camera-frame points → (..., 2) pixels (pinhole, no distortion)."""
    points_cam = np.asarray(points_cam)
    if points_cam.shape[-1] != 3:
        raise ValueError(f"project: expected (..., 3) camera-frame points, got {points_cam.shape}")
    z = points_cam[..., 2:3]
    if (z <= 1e-6).any():
        raise ValueError(f"project: {int((z <= 1e-6).sum())} point(s) at or behind the camera (z <= 0)")
    focal = np.array([cam.fx, cam.fy])
    principal = np.array([cam.cx, cam.cy])
    return (points_cam[..., :2] / z * focal + principal).astype(np.result_type(points_cam.dtype, np.float32))


def _screen_offset(uv, width: float, height: float):
    offset = [1.0, height / width]
    if isinstance(uv, torch.Tensor):
        return torch.tensor(offset, dtype=uv.dtype, device=uv.device)
    return np.asarray(offset, dtype=uv.dtype)


def _as_float(uv):
    if isinstance(uv, torch.Tensor):
        return uv if uv.is_floating_point() else uv.float()
    uv = np.asarray(uv)
    return uv if np.issubdtype(uv.dtype, np.floating) else uv.astype(np.float32)


def normalize_screen(uv, width: float, height: float):
    """(..., 2) pixels → VideoPose3D screen coords uv / w * 2 - [1, h / w] (numpy or torch)."""
    uv = _as_float(uv)
    if uv.shape[-1] != 2 or width <= 0 or height <= 0:
        raise ValueError(f"normalize_screen: expected (..., 2) and positive size, "
                         f"got {tuple(uv.shape)}, {width}x{height}")
    return uv / width * 2.0 - _screen_offset(uv, width, height)


def unnormalize_screen(xy, width: float, height: float):
    """Inverse of `normalize_screen`: (..., 2) screen coords → pixels (numpy or torch)."""
    xy = _as_float(xy)
    if xy.shape[-1] != 2 or width <= 0 or height <= 0:
        raise ValueError(f"unnormalize_screen: expected (..., 2) and positive size, "
                         f"got {tuple(xy.shape)}, {width}x{height}")
    return (xy + _screen_offset(xy, width, height)) * width / 2.0
