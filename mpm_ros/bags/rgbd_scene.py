"""The RGB-D scene of `make_bag --rgbd`: a robot's RGB-D camera, people walking 1.2-7 m away, occluders passing in
front, and per frame an aligned depth image (mpm_ros.bags.depth_render) that hides what is behind an occluder
or another person from the 2D detector too (numpy only, no ROS)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.data import camera as camlib
from mpm_ros.bags.depth_render import BACKGROUND_ID, Capsule, DepthNoise, DepthRenderer, body_capsules, sensor_depth

# A RealSense D4xx-like colour camera at 640x480 (depth aligned to it), on a robot 1.2 m high, pitched 5° down.
RGBD_WIDTH, RGBD_HEIGHT, RGBD_FOCAL_PX = 640, 480, 600.0
CAMERA_HEIGHT_M, CAMERA_PITCH_DEG = 1.2, 5.0
NEAR_M, FAR_M = 1.2, 7.0  # people walk back and forth between these distances
WALK_SPEED_M_S = 0.7
OCCLUDER_ID = 1000  # object ids of occluders start here (people use their track ids)
HIDDEN_BEHIND_M = 0.15  # a joint whose pixel shows something this much nearer is hidden ...
HIDDEN_PROBABILITY = 0.7  # ... from the 2D detector with this probability (detectors guess some hidden joints)


def rgbd_camera() -> camlib.VirtualCamera:
    """World z up, the robot at the origin looking along +y."""
    pitch = np.deg2rad(CAMERA_PITCH_DEG)
    position = np.array([0.0, 0.0, CAMERA_HEIGHT_M])
    target = position + [0.0, np.cos(pitch), -np.sin(pitch)]
    rotation = camlib.look_at(position, target)
    return camlib.VirtualCamera(RGBD_FOCAL_PX, RGBD_FOCAL_PX, RGBD_WIDTH / 2.0, RGBD_HEIGHT / 2.0, RGBD_WIDTH,
                                RGBD_HEIGHT, rotation, -rotation @ position)


def walk_paths(people: int, num_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(people, F, 2) world xy of each person's root: back and forth between NEAR_M and FAR_M in front of the
    robot, each at its own phase and bearing (inside the camera's view)."""
    span = FAR_M - NEAR_M
    seconds = np.arange(num_frames) / fps
    paths = np.zeros((people, num_frames, 2))
    for i in range(people):
        travelled = rng.uniform(0, 2 * span) + WALK_SPEED_M_S * rng.uniform(0.7, 1.3) * seconds
        distance = NEAR_M + span - np.abs(travelled % (2 * span) - span)  # triangle wave
        bearing = rng.uniform(-0.25, 0.25) + 0.1 * np.sin(seconds * rng.uniform(0.2, 0.6))  # x / y
        paths[i] = np.stack([distance * bearing, distance], -1)
    return paths


def place_on_paths(clips: list[np.ndarray], paths: np.ndarray) -> list[np.ndarray]:
    """Each (F, 17, 3) clip with its own mean root xy moved onto its path (the clip's local motion kept)."""
    return [clip - np.append(clip[:, 0, :2].mean(0), 0.0) + np.concatenate([path, np.zeros((len(path), 1))], 1)[:, None]
            for clip, path in zip(clips, paths)]


@dataclass
class Occluder:
    """A person-sized pole crossing the view at a fixed distance."""

    distance: float
    speed: float  # m/s along x
    start_x: float
    radius: float

    def capsule(self, seconds: float, cam: camlib.VirtualCamera, object_id: int) -> Capsule:
        half = 0.6 * self.distance  # cross the whole view and come back
        x = -half + (self.start_x + self.speed * seconds + half) % (2 * half)
        ends = np.array([[x, self.distance, 0.3], [x, self.distance, 1.6]])
        return Capsule(*camlib.world_to_camera(ends, cam), radius=self.radius, object_id=object_id)


def make_occluders(count: int, rng: np.random.Generator) -> list[Occluder]:
    return [Occluder(rng.uniform(0.9, 3.5), rng.choice([-1, 1]) * rng.uniform(0.5, 1.2), rng.uniform(-2, 2),
                     rng.uniform(0.12, 0.25)) for _ in range(count)]


class RgbdFrames:
    """Depth images of a scene, frame by frame, and which joints they hide from the 2D detector."""

    def __init__(self, cam: camlib.VirtualCamera, occluders: list[Occluder], fps: float, rng: np.random.Generator,
                 noise: DepthNoise = DepthNoise()) -> None:
        self.cam, self.occluders, self.fps, self.rng, self.noise = cam, occluders, fps, rng, noise
        self.renderer = DepthRenderer(cam.intrinsics, cam.width, cam.height, cam.rotation, cam.translation,
                                      wall_depth_m=FAR_M + 2.5)

    def frame(self, index: int, people: dict[int, np.ndarray], pixels: dict[int, np.ndarray]) -> tuple[
            np.ndarray, dict[int, np.ndarray]]:
        """{track id: (17, 3) camera-frame joints}, {track id: (17, 2) true pixels} → (H, W) uint16 mm depth and
        {track id: (17,) bool hidden from the detector}."""
        capsules = [c for track, joints in people.items() for c in body_capsules(joints, track)]
        capsules += [o.capsule(index / self.fps, self.cam, OCCLUDER_ID + i) for i, o in enumerate(self.occluders)]
        depth, ids = self.renderer.render(capsules)
        hidden = {}
        for track, joints in people.items():
            uv = np.rint(pixels[track]).astype(int)  # (17, 2)
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < self.cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.cam.height)
            u, v = np.clip(uv[:, 0], 0, self.cam.width - 1), np.clip(uv[:, 1], 0, self.cam.height - 1)
            seen_id, seen_depth = ids[v, u], depth[v, u]
            covered = inside & (seen_id != track) & (seen_id != BACKGROUND_ID) & \
                (seen_depth < joints[:, 2] - HIDDEN_BEHIND_M)
            hidden[track] = covered & (self.rng.random(17) < HIDDEN_PROBABILITY)
        return sensor_depth(depth, self.rng, self.noise), hidden
