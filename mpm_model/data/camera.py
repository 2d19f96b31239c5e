"""Virtual pinhole cameras (Human3.6M-like rigs and robot-mounted cameras), projection and VideoPose3D
screen normalisation.

Camera frame: x right, y down, z forward (OpenCV). World frame: z up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mpm_model.data.draws import Draws, NumpyDraws

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
    position, target = np.asarray(position, np.float64), np.asarray(target, np.float64)
    forward = target - position
    if np.linalg.norm(forward) < 1e-9:
        raise ValueError("look_at: camera position equals target")
    if np.linalg.norm(np.cross(forward / np.linalg.norm(forward), [0.0, 0.0, 1.0])) < 1e-6:
        raise ValueError("look_at: camera looks straight up or down; its roll is undefined")
    return look_at_batch(torch.from_numpy(position)[None], torch.from_numpy(target)[None])[0].numpy()


def look_at_batch(position: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 3) positions and targets -> (B, 3, 3) world → camera rotations (rows: right, down, forward), z up."""
    forward = target - position
    forward = forward / forward.norm(dim=-1, keepdim=True)
    up = torch.zeros_like(forward)
    up[..., 2] = 1.0
    right = torch.linalg.cross(forward, up)
    right = right / right.norm(dim=-1, keepdim=True)
    return torch.stack([right, torch.linalg.cross(forward, right), forward], dim=-2)


@dataclass(frozen=True)
class CameraBatch:
    """B pinhole cameras as tensors, principal point at the image centre (so a horizontal flip of the
    camera-frame pose is exactly a sign flip of the normalised 2D x)."""

    focal: torch.Tensor  # (B,)
    size: torch.Tensor  # (B, 2) width, height in pixels
    rotation: torch.Tensor  # (B, 3, 3) world → camera
    translation: torch.Tensor  # (B, 3)

    def to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """(B, ..., 3) world points -> (B, ..., 3) camera-frame points."""
        flat = points.reshape(points.shape[0], -1, 3)
        return rigid(flat, self.rotation, self.translation[:, None]).reshape(points.shape)

    def project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """(B, ..., 3) camera-frame points (in front) -> (B, ..., 2) pixels."""
        view = (points_cam.shape[0],) + (1,) * (points_cam.dim() - 2)
        return pinhole(points_cam, self.focal.reshape(*view, 1), (self.size / 2).reshape(*view, 2))

    def where(self, choose: torch.Tensor, other: "CameraBatch") -> "CameraBatch":
        """Per camera: self where `choose` (B,) else other."""
        def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.where(choose.reshape(-1, *([1] * (a.dim() - 1))), a, b.to(a.dtype))
        return CameraBatch(pick(self.focal, other.focal), pick(self.size, other.size),
                           pick(self.rotation, other.rotation), pick(self.translation, other.translation))

    def camera(self, index: int) -> VirtualCamera:
        """Camera `index` as a VirtualCamera (numpy, float64)."""
        f, (w, h) = float(self.focal[index]), self.size[index].tolist()
        return VirtualCamera(f, f, w / 2.0, h / 2.0, int(round(w)), int(round(h)),
                             self.rotation[index].double().cpu().numpy(),
                             self.translation[index].double().cpu().numpy())


def h36m_cameras(draws: Draws, target: torch.Tensor, focal: float = H36M_FOCAL_PX, focal_jitter: float = 0.05,
                 width: int = H36M_IMAGE_SIZE, height: int = H36M_IMAGE_SIZE,
                 distance: tuple[float, float] = (3.0, 7.0),
                 elevation_deg: tuple[float, float] = (-10.0, 30.0)) -> CameraBatch:
    """Human3.6M-like cameras looking at `target` (B, 3) from random directions: focal ±`focal_jitter`,
    distance and elevation uniform in their ranges, azimuth uniform in [0, 2π)."""
    f = focal * draws.uniform(1.0 - focal_jitter, 1.0 + focal_jitter)
    dist = draws.uniform(*distance)
    elevation = torch.deg2rad(draws.uniform(*elevation_deg))
    azimuth = draws.uniform(0.0, 2.0 * np.pi)
    direction = torch.stack([torch.cos(elevation) * torch.cos(azimuth), torch.cos(elevation) * torch.sin(azimuth),
                             torch.sin(elevation)], dim=-1)
    position = target + dist[:, None] * direction
    rotation = look_at_batch(position, target)
    size = torch.tensor([float(width), float(height)], dtype=f.dtype, device=f.device).expand(len(f), 2)
    return CameraBatch(f, size, rotation, -(rotation @ position[..., None])[..., 0])


def robot_cameras(draws: Draws, target: torch.Tensor) -> CameraBatch:
    """Robot-mounted cameras near `target` (B, 3) (the person's root): random resolution and field of view,
    mounting height, ground distance and azimuth; aimed off the person (up to 40 % of the half field of view)
    and pitch clipped to ±30°. Close cameras cut the person off (the datasets mask joints outside the image)."""
    sizes = torch.tensor(ROBOT_IMAGE_SIZES, dtype=target.dtype, device=target.device)
    size = sizes[draws.integers(len(ROBOT_IMAGE_SIZES)).to(target.device)]
    half_h = torch.deg2rad(draws.uniform(*ROBOT_HFOV_DEG)) / 2.0
    focal = size[:, 0] / 2.0 / torch.tan(half_h)
    half_v = torch.atan(size[:, 1] / 2.0 / focal)
    distance = draws.uniform(*ROBOT_DISTANCE_M)
    azimuth = draws.uniform(0.0, 2.0 * np.pi)
    ground = torch.stack([torch.cos(azimuth), torch.sin(azimuth)], dim=-1)
    position = torch.cat([target[:, :2] + distance[:, None] * ground, draws.uniform(*ROBOT_HEIGHT_M)[:, None]], -1)
    yaw = torch.atan2(-ground[:, 1], -ground[:, 0]) + draws.uniform(-0.4, 0.4) * half_h  # towards, off-centre
    level_pitch = torch.atan2(target[:, 2] - position[:, 2], distance)  # pitch that centres the root vertically
    max_pitch = float(np.deg2rad(ROBOT_MAX_PITCH_DEG))
    pitch = (level_pitch + draws.uniform(-0.4, 0.4) * half_v).clamp(-max_pitch, max_pitch)
    forward = torch.stack([torch.cos(pitch) * torch.cos(yaw), torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch)], -1)
    rotation = look_at_batch(position, position + forward)
    return CameraBatch(focal, size, rotation, -(rotation @ position[..., None])[..., 0])


def _checked_target(target_world: np.ndarray, who: str) -> torch.Tensor:
    target = np.asarray(target_world, dtype=np.float64).reshape(-1)
    if target.shape != (3,) or not np.isfinite(target).all():
        raise ValueError(f"{who}: target_world must be 3 finite numbers, got {target_world!r}")
    return torch.from_numpy(target)[None]


def sample_camera(rng: np.random.Generator, target_world: np.ndarray, **ranges) -> VirtualCamera:
    """One Human3.6M-like camera looking at `target_world` (3,) (`h36m_cameras`; `ranges` are its keywords)."""
    return h36m_cameras(NumpyDraws(rng), _checked_target(target_world, "sample_camera"), **ranges).camera(0)


def sample_robot_camera(rng: np.random.Generator, target_world: np.ndarray) -> VirtualCamera:
    """One robot-mounted camera near `target_world` (3,) (`robot_cameras`)."""
    return robot_cameras(NumpyDraws(rng), _checked_target(target_world, "sample_robot_camera")).camera(0)


def sample_any_camera(rng: np.random.Generator, target_world: np.ndarray, kind: str) -> VirtualCamera:
    """`kind` "h36m" (studio rig, `sample_camera`) or "robot" (`sample_robot_camera`)."""
    if kind == "h36m":
        return sample_camera(rng, target_world)
    if kind == "robot":
        return sample_robot_camera(rng, target_world)
    raise ValueError(f"camera kind must be one of {CAMERA_KINDS}, got {kind!r}")


def keep_in_front_batch(cams: CameraBatch, points: torch.Tensor, min_depth: float = 0.3) -> CameraBatch:
    """Move each camera back along its optical axis until all its (B, N, 3) world points are >= `min_depth`
    in front. Real sequences walk 10 m and more, past a camera placed near the person: backing off keeps every
    projection valid (what then leaves the image is masked) instead of failing on points behind the lens."""
    depth = cams.to_camera(points)[..., 2].amin(dim=-1)  # (B,)
    shortfall = (min_depth - depth).clamp(min=0.0).to(cams.translation.dtype)
    translation = cams.translation.clone()
    translation[:, 2] += shortfall  # camera centre moves back by `shortfall`
    return CameraBatch(cams.focal, cams.size, cams.rotation, translation)


def keep_in_front(cam: VirtualCamera, points_world: np.ndarray, min_depth: float = 0.3) -> VirtualCamera:
    """One camera moved back until every (..., 3) world point is >= `min_depth` in front (`keep_in_front_batch`)."""
    points = np.asarray(points_world, np.float64).reshape(-1, 3)
    depth = rigid(points, cam.rotation, cam.translation)[:, 2]
    if not depth.size or depth.min() >= min_depth:
        return cam
    batch = CameraBatch(torch.tensor([cam.fx]), torch.tensor([[float(cam.width), float(cam.height)]]),
                        torch.from_numpy(cam.rotation)[None], torch.from_numpy(cam.translation)[None])
    moved = keep_in_front_batch(batch, torch.from_numpy(points)[None], min_depth)
    return VirtualCamera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height, cam.rotation,
                         moved.translation[0].numpy())


def rigid(points, rotation, translation):
    """(..., 3) world points → (..., 3) camera-frame points: R @ p + t (numpy or torch; batched R, t broadcast)."""
    return points @ rotation.swapaxes(-1, -2) + translation


def pinhole(points_cam, focal, principal):
    """(..., 3) camera-frame points → (..., 2) pixels: xy / z · f + c (numpy or torch)."""
    return points_cam[..., :2] / points_cam[..., 2:3] * focal + principal


def world_to_camera(points: np.ndarray, cam: VirtualCamera) -> np.ndarray:
    """(..., 3) world points → (..., 3) camera-frame points."""
    points = np.asarray(points)
    if points.shape[-1] != 3:
        raise ValueError(f"world_to_camera: expected (..., 3) points, got {points.shape}")
    out = rigid(points, cam.rotation, cam.translation)
    return out.astype(np.result_type(points.dtype, np.float32))


def project(points_cam: np.ndarray, cam: VirtualCamera) -> np.ndarray:
    """(..., 3) camera-frame points → (..., 2) pixels (pinhole, no distortion)."""
    points_cam = np.asarray(points_cam)
    if points_cam.shape[-1] != 3:
        raise ValueError(f"project: expected (..., 3) camera-frame points, got {points_cam.shape}")
    z = points_cam[..., 2:3]
    if (z <= 1e-6).any():
        raise ValueError(f"project: {int((z <= 1e-6).sum())} point(s) at or behind the camera (z <= 0)")
    uv = pinhole(points_cam, np.array([cam.fx, cam.fy]), np.array([cam.cx, cam.cy]))
    return uv.astype(np.result_type(points_cam.dtype, np.float32))


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
