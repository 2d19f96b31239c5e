"""Test clips with ground truth: an OpenCV-drawn person (filled limbs, torso, head with a face) seen by a
virtual pinhole camera, from H36M-17 mocap. A real detector (BlazePose) finds this figure, so the whole
image → 2D → 3D pipeline can be scored against the mocap it was drawn from."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mpm_model.data.camera import VirtualCamera, look_at, project, world_to_camera

# Limb radii in metres (drawn as thick rounded lines), ordered (joint a, joint b, radius, colour BGR).
SKIN = (140, 175, 225)
SHIRT = (150, 90, 40)
TROUSERS = (60, 60, 70)
SHOES = (30, 30, 30)
HAIR = (40, 50, 70)
LIMBS: tuple[tuple[int, int, float, tuple[int, int, int]], ...] = (
    (1, 2, 0.075, TROUSERS), (2, 3, 0.055, TROUSERS), (4, 5, 0.075, TROUSERS), (5, 6, 0.055, TROUSERS),
    (11, 12, 0.05, SHIRT), (12, 13, 0.04, SKIN), (14, 15, 0.05, SHIRT), (15, 16, 0.04, SKIN),
    (8, 9, 0.045, SKIN),
)
HEAD_RADIUS_M = 0.11


@dataclass(frozen=True)
class Clip:
    """Rendered frames (T, H, W, 3) uint8 RGB with ground truth: camera-frame joints (T, 17, 3) m, pixels (T, 17, 2)."""

    frames: np.ndarray
    joints_cam: np.ndarray
    pixels: np.ndarray
    camera: VirtualCamera
    fps: float


def front_camera(world: np.ndarray, width: int = 640, height: int = 480, focal: float = 733.0,
                 distance: float = 3.5, azimuth_deg: float = 0.0, elevation_deg: float = 5.0) -> VirtualCamera:
    """A camera at least `distance` m from every frame's pelvis, looking at the clip's mean pelvis from the
    body's mean forward direction rotated by `azimuth_deg` (0 = frontal). focal/width 733/640 ≈ Human3.6M's
    1145/1000, like the lifter's training cameras."""
    target = world[:, 0].mean(axis=0) + [0.0, 0.0, 0.25]
    left = (world[:, 4] - world[:, 1]).mean(axis=0)  # right hip → left hip
    forward = np.cross(left, [0.0, 0.0, 1.0])  # body forward = left × up
    forward /= max(np.linalg.norm(forward[:2]), 1e-9)
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    direction = rot @ np.array([forward[0], forward[1], 0.0])
    offset = np.cos(e) * direction + [0.0, 0.0, np.sin(e)]
    rotation = look_at(target + distance * offset, target)
    # A walk towards the camera must not walk into it: back off until every frame's pelvis is `distance` deep.
    nearest = float(((world[:, 0] - target - distance * offset) @ rotation[2]).min())
    position = target + (distance + max(0.0, distance - nearest)) * offset
    return VirtualCamera(focal, focal, width / 2.0, height / 2.0, width, height, rotation, -rotation @ position)


def _background(width: int, height: int) -> np.ndarray:
    """Wall-and-floor backdrop (a flat grey gradient), so the figure is not on an empty canvas."""
    rows = np.linspace(200, 150, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(rows, (height, width, 3)).astype(np.uint8).copy()
    image[int(height * 0.7):] = (120, 125, 130)
    return image


def draw_person(image: np.ndarray, joints_cam: np.ndarray, cam: VirtualCamera) -> None:
    """Draw one person (17, 3) camera-frame metres into a BGR image in place, far parts first."""
    pixels = project(joints_cam, cam)
    depth = joints_cam[:, 2]

    def px(m: float, z: float) -> int:
        return max(1, int(round(m * cam.fx / z)))

    parts = []  # (depth, draw function)
    for a, b, radius, colour in LIMBS:
        z = float((depth[a] + depth[b]) / 2)
        parts.append((z, lambda a=a, b=b, r=radius, c=colour, z=z: cv2.line(
            image, _pt(pixels[a]), _pt(pixels[b]), c, 2 * px(r, z), cv2.LINE_AA)))
    torso = pixels[[11, 14, 1, 4]]  # left shoulder, right shoulder, right hip, left hip
    torso_z = float(depth[[11, 14, 1, 4]].mean())
    parts.append((torso_z, lambda: cv2.fillConvexPoly(image, np.round(torso).astype(np.int32), SHIRT, cv2.LINE_AA)))
    parts.append((torso_z - 0.01, lambda: cv2.line(image, _pt(pixels[1]), _pt(pixels[4]), TROUSERS,
                                                    2 * px(0.08, torso_z), cv2.LINE_AA)))
    for ankle in (3, 6):
        parts.append((float(depth[ankle]), lambda j=ankle: cv2.circle(
            image, _pt(pixels[j]), px(0.06, depth[j]), SHOES, -1, cv2.LINE_AA)))
    parts.append((float(depth[10]), lambda: _draw_head(image, joints_cam, cam)))
    for _, draw in sorted(parts, key=lambda p: -p[0]):
        draw()


def _draw_head(image: np.ndarray, joints_cam: np.ndarray, cam: VirtualCamera) -> None:
    """Head disc with hair, and eyes, brows, nose and mouth on the side the nose points to when that side
    faces the camera (BlazePose's person detector keys on the face)."""
    nose, top, thorax = joints_cam[9], joints_cam[10], joints_cam[8]
    up = top - thorax
    up /= max(np.linalg.norm(up), 1e-9)
    centre = top - up * HEAD_RADIUS_M
    lateral = joints_cam[11] - joints_cam[14]  # right → left shoulder
    lateral -= up * (lateral @ up)
    lateral /= max(np.linalg.norm(lateral), 1e-9)
    forward = np.cross(lateral, up)  # left × up = the body's forward
    if (nose - centre) @ forward < 0:
        forward = -forward

    def disc(point: np.ndarray, size_m: float, colour: tuple[int, int, int]) -> None:
        cv2.circle(image, _pt(project(point, cam)), max(1, int(round(size_m * cam.fx / point[2]))), colour, -1,
                   cv2.LINE_AA)

    disc(centre + up * 0.02 - forward * 0.02, HEAD_RADIUS_M, HAIR)
    disc(centre - up * 0.01 + forward * 0.01, HEAD_RADIUS_M * 0.92, SKIN)
    if forward[2] > 0.3:  # facing away: the back of the head only
        return
    face = centre + forward * HEAD_RADIUS_M * 0.85
    for side in (-1, 1):
        eye = face + up * 0.02 + side * lateral * 0.04
        disc(eye, 0.02, (245, 245, 245))
        disc(eye, 0.011, (30, 20, 10))
        cv2.line(image, _pt(project(eye + up * 0.03 - lateral * 0.02, cam)),
                 _pt(project(eye + up * 0.03 + lateral * 0.02, cam)), HAIR, max(1, int(0.01 * cam.fx / eye[2])),
                 cv2.LINE_AA)
    disc(face - up * 0.015 + forward * 0.01, 0.014, (110, 140, 200))
    disc(face - up * 0.05, 0.016, (70, 60, 160))


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def render_clip(world: np.ndarray, fps: float, cam: VirtualCamera | None = None) -> Clip:
    """(T, 17, 3) z-up world metres → a Clip of RGB frames with camera-frame and pixel ground truth."""
    world = np.asarray(world, np.float64)
    if world.ndim != 3 or world.shape[1:] != (17, 3):
        raise ValueError(f"render_clip: expected (T, 17, 3) poses, got {world.shape}")
    cam = front_camera(world) if cam is None else cam
    joints = world_to_camera(world, cam)
    frames = np.empty((len(world), cam.height, cam.width, 3), np.uint8)
    backdrop = _background(cam.width, cam.height)
    for t in range(len(world)):
        image = backdrop.copy()
        draw_person(image, joints[t], cam)
        frames[t] = image[..., ::-1]
    return Clip(frames, joints.astype(np.float32), project(joints, cam).astype(np.float32), cam, fps)
