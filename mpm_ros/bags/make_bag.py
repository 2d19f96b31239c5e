"""Make a rosbag2 test recording from 3D mocap: N people seen by one virtual camera.

Each person is a mocap clip (resampled to --fps; one person alone walks through all of them) placed at its own
spot in the scene, projected through one H36M-like pinhole camera, with detector-like jitter, occluded joints
(confidence 0, incl. joints outside the image), whole-person dropouts, and tracks entering/leaving at different
times. Ground truth 3D (camera frame, metres, absolute, root included) goes on its own topic with the same stamps.

Topics: /camera_info (sensor_msgs/CameraInfo), /keypoints (mpm_msgs/Skeleton2DArray, layout h36m17),
/ground_truth/skeletons3d (mpm_msgs/Skeleton3DArray; `masked` = joint hidden in that frame's 2D), and once, at the
first stamp, /tf_static (tf2_msgs/TFMessage, latched): the camera's mount on the floor frame `base_footprint`, as a
robot's URDF publishes it (the node's default ground_frame finds the floor there).
--rgbd: a robot's RGB-D camera instead (640x480, people walking 1.2-7 m away, occluders passing in front) and an
aligned depth image per frame on /depth (sensor_msgs/Image 16UC1 mm, mpm_ros.bags.rgbd_scene).

    python -m mpm_ros.bags.make_bag --mocap mpm_model/assets/demo_clip.npz --out bags/demo --people 2
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model.data import camera as camlib
from mpm_model.data.mocap import MocapSequence, load_mocap, resample
from mpm_model.data.occlusion import detector_noise, occlusion_mask
from mpm_model.streaming.frames import FrameOptions, Transform
from mpm_ros.bags import bag_io, rgbd_scene

START_TIME_NS = 1_700_000_000 * 1_000_000_000  # fixed epoch: the same arguments give the same bag
SLOT_SPACING_M = 2.0  # between neighbouring people's mean positions
MIN_DEPTH_M = 0.2  # joints closer to (or behind) the camera are not visible
WALK_SHARE_S = 3.0  # one person walking through a clip's sequences: at least this long in each
WALK_TURN_M = 0.5  # ... turned back towards the start once this far from it (and the next sequence travels)
WALK_RADIUS_M = 4.0  # ... a sequence ends early once its root is this far from the start
BLEND_FRAMES = 10  # ... each sequence blended in from the last frame of the one before over this many frames


@dataclass
class PersonTrack:
    """One person: world poses for frames [start, end) of the recording."""

    track_id: int
    start: int
    end: int
    world: np.ndarray  # (end - start, 17, 3) metres, z up


def _clip_frames(seq: MocapSequence, count: int, offset: int) -> np.ndarray:
    """`count` frames from `offset` on, bouncing back and forth when the clip is shorter (no jumps)."""
    n = len(seq)
    if n == 1:
        return np.repeat(seq.poses3d, count, axis=0)
    period = 2 * (n - 1)
    k = (offset + np.arange(count)) % period
    return seq.poses3d[np.where(k < n, k, period - k)]  # (count, 17, 3)


def _turned(poses: np.ndarray, angle: float) -> np.ndarray:
    """(F, 17, 3) world poses turned by `angle` (rad) about the vertical through the world origin."""
    c, s = np.cos(angle), np.sin(angle)
    return poses @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _walk_frames(sequences: list[MocapSequence], count: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """`count` frames of ONE person walking through `sequences` in order (wrapping). Each gets an equal share of
    the recording (at least WALK_SHARE_S; a shorter sequence is played whole, a longer one from a seeded offset)
    and continues where the last one ended, turned about the vertical so that its travel heads back towards the
    start; it ends early once its root is WALK_RADIUS_M from the start (the person stays in view). Over its first
    BLEND_FRAMES frames the pose, the root height and the root's horizontal velocity are blended from the last
    frame before: no jumps, and a runner who turns back slows down first. Why: one sequence played back and forth
    is not the motion a clip names, and its instant reversals are no person's."""
    share = max(count // len(sequences), int(round(WALK_SHARE_S * fps)), BLEND_FRAMES + 1)
    parts: list[np.ndarray] = []
    total, k, velocity = 0, 0, np.zeros(2)  # velocity: the last frame's root xy step (m/frame)
    while total < count:
        seq = sequences[k % len(sequences)].poses3d.astype(np.float64)
        k += 1
        first = int(rng.integers(0, len(seq) - share + 1)) if len(seq) > share else 0
        poses = seq[first:first + share]
        poses = poses - np.append(poses[0, 0, :2], 0.0)  # (F, 17, 3): starts at the world origin
        if parts:
            last = parts[-1][-1]  # (17, 3)
            here, travel = last[0, :2], poses[-1, 0, :2]
            if np.linalg.norm(here) > WALK_TURN_M and np.linalg.norm(travel) > WALK_TURN_M:
                poses = _turned(poses, np.arctan2(-here[1], -here[0]) - np.arctan2(travel[1], travel[0]))
            blend = min(BLEND_FRAMES, len(poses))
            w = np.ones(len(poses))
            w[:blend] = np.arange(1, blend + 1) / (blend + 1)  # (F,) the new sequence's share
            steps = np.diff(poses[:, 0, :2], axis=0, prepend=poses[:1, 0, :2])  # (F, 2) its own root xy steps
            root_xy = here + np.cumsum((1 - w)[:, None] * velocity + w[:, None] * steps, axis=0)  # (F, 2)
            relative = poses - poses[:, :1]  # (F, 17, 3)
            relative[:blend] = (1 - w[:blend, None, None]) * (last - last[0]) + w[:blend, None, None] * relative[:blend]
            height = poses[:, 0, 2] + (1 - w) * (last[0, 2] - poses[0, 0, 2])  # (F,)
            poses = relative + np.concatenate([root_xy, height[:, None]], 1)[:, None]
        origin = parts[0][0, 0, :2] if parts else poses[0, 0, :2]
        far = np.flatnonzero(np.linalg.norm(poses[:, 0, :2] - origin, axis=-1) > WALK_RADIUS_M)
        far = far[far > BLEND_FRAMES]
        poses = poses[:far[0] + 1] if len(far) else poses
        velocity = poses[-1, 0, :2] - poses[-2, 0, :2] if len(poses) > 1 else velocity
        parts.append(poses)
        total += len(poses)
    return np.concatenate(parts)[:count]  # (count, 17, 3)


def build_tracks(sequences: list[MocapSequence], people: int, num_frames: int, rng: np.random.Generator,
                 all_visible: bool = False, fps: float = 30.0) -> list[PersonTrack]:
    """People on a grid (two rows); the first visible throughout, the others entering/leaving at random
    unless `all_visible` (benchmarks want a constant number of tracks). Two or more people play a sequence
    each, back and forth; one person walks through all the clip's sequences (_walk_frames)."""
    columns = int(np.ceil(people / 2)) if people > 2 else people
    tracks = []
    for i in range(people):
        if i == 0 or all_visible:
            start, end = 0, num_frames
        else:
            span = max(2, int(rng.uniform(0.5, 0.9) * num_frames))
            start = int(rng.integers(0, num_frames - span + 1))
            end = start + span
        seq = sequences[i % len(sequences)]
        world = _walk_frames(sequences, end - start, fps, rng) if people == 1 and len(sequences) > 1 else \
            _clip_frames(seq, end - start, int(rng.integers(0, max(1, len(seq)))))
        row, column = divmod(i, columns)
        slot = np.array([(column - (columns - 1) / 2) * SLOT_SPACING_M + row * SLOT_SPACING_M / 2,
                         row * SLOT_SPACING_M * 1.25, 0.0])
        world = world - np.append(world[:, 0, :2].mean(axis=0), 0.0) + slot
        tracks.append(PersonTrack(track_id=i + 1, start=start, end=end, world=world.astype(np.float64)))
    return tracks


def frame_scene(tracks: list[PersonTrack], rng: np.random.Generator, width: int = camlib.H36M_IMAGE_SIZE,
                height: int = camlib.H36M_IMAGE_SIZE, focal: float = camlib.H36M_FOCAL_PX) -> camlib.VirtualCamera:
    """An H36M-like camera in front of the group, backed off until every joint of every frame is in view."""
    points = np.concatenate([t.world.reshape(-1, 3) for t in tracks])
    target = np.array([*(points[:, :2].min(0) + points[:, :2].max(0)) / 2, 1.0])
    azimuth = np.deg2rad(-90.0 + rng.uniform(-20.0, 20.0))
    elevation = np.deg2rad(rng.uniform(5.0, 15.0))
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    margin = 0.05
    distance = 3.0
    while True:
        position = target + distance * direction
        rotation = camlib.look_at(position, target)
        cam = camlib.VirtualCamera(focal, focal, width / 2.0, height / 2.0, width, height,
                                   rotation, -rotation @ position)
        local = camlib.world_to_camera(points, cam)
        if (local[:, 2] > MIN_DEPTH_M).all() or distance > 60.0:
            uv = camlib.project(np.maximum(local, [-np.inf, -np.inf, MIN_DEPTH_M]), cam)
            inside = ((uv >= [margin * width, margin * height]) & (uv <= [(1 - margin) * width, (1 - margin) * height]))
            if inside.all() or distance > 60.0:
                return cam
        distance += 0.5


@dataclass
class Observation:
    """What the camera and detector produce for one track over its frames."""

    joints_cam: np.ndarray  # (F, 17, 3) ground truth, camera frame
    uv: np.ndarray  # (F, 17, 2) noisy pixels
    confidence: np.ndarray  # (F, 17) float32, 0 = occluded / not detected
    present: np.ndarray  # (F,) bool, False = whole person missed by the detector


def observe(track: PersonTrack, cam: camlib.VirtualCamera, rng: np.random.Generator, noise_px: float,
            occlusion: float, dropout: float) -> Observation:
    """Project, jitter and occlude one track; dropouts come in short bursts like real detector misses."""
    joints_cam = camlib.world_to_camera(track.world, cam)  # (F, 17, 3)
    frames = joints_cam.shape[0]
    in_front = joints_cam[..., 2] > MIN_DEPTH_M
    uv = camlib.project(np.where(in_front[..., None], joints_cam, [0.0, 0.0, 1.0]), cam)
    uv = detector_noise(uv, rng, sigma_px=noise_px, outlier_prob=0.002 if noise_px > 0 else 0.0)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < cam.width) & (uv[..., 1] >= 0) & (uv[..., 1] < cam.height)
    hidden = occlusion_mask(rng, frames, 17, occlusion, kinds=("joints", "limbs")) if occlusion > 0 else \
        np.zeros((frames, 17), bool)
    confidence = rng.uniform(0.6, 1.0, size=(frames, 17)).astype(np.float32)
    confidence[hidden | ~inside | ~in_front] = 0.0
    present = np.ones(frames, bool)
    if dropout > 0:
        for first in np.flatnonzero(rng.random(frames) < dropout / 2):
            present[first:first + int(rng.integers(1, 4))] = False
    return Observation(joints_cam.astype(np.float64), uv.astype(np.float32), confidence, present)


def camera_mount(cam: camlib.VirtualCamera) -> Transform:
    """The camera optical frame's pose in the floor frame: REP 105's base_footprint on the floor (world z = 0)
    right below the camera, x along the camera's heading, z up; the camera sits at (0, 0, height) in it."""
    position = -cam.rotation.T @ cam.translation  # (3,) world
    forward = cam.rotation[2, :2]  # the optical axis in the world, horizontal part
    heading = np.arctan2(forward[1], forward[0]) if np.linalg.norm(forward) > 1e-9 else 0.0
    c, s = np.cos(heading), np.sin(heading)
    yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # floor frame → world
    return Transform(yaw.T @ cam.rotation.T, np.array([0.0, 0.0, position[2]]))


def tf_static_msg(m: dict[str, Any], header: Any, cam: camlib.VirtualCamera) -> Any:
    mount = camera_mount(cam)
    (x, y, z), (qx, qy, qz, qw) = mount.translation, mount.quaternion
    floor_header = m["Header"](stamp=header.stamp, frame_id=FrameOptions().ground_frame)
    return m["TFMessage"](transforms=[m["TransformStamped"](
        header=floor_header, child_frame_id=header.frame_id, transform=m["Transform"](
            translation=m["Vector3"](x=float(x), y=float(y), z=float(z)),
            rotation=m["Quaternion"](x=float(qx), y=float(qy), z=float(qz), w=float(qw))))])


def _messages(store: Any) -> dict[str, Any]:
    return {name: store.types[full] for name, full in {
        "Time": "builtin_interfaces/msg/Time", "Header": "std_msgs/msg/Header",
        "CameraInfo": "sensor_msgs/msg/CameraInfo", "RegionOfInterest": "sensor_msgs/msg/RegionOfInterest",
        "Keypoint2D": "mpm_msgs/msg/Keypoint2D", "Skeleton2D": "mpm_msgs/msg/Skeleton2D",
        "Skeleton2DArray": "mpm_msgs/msg/Skeleton2DArray", "Point": "geometry_msgs/msg/Point",
        "Vector3": "geometry_msgs/msg/Vector3",
        "Skeleton3D": "mpm_msgs/msg/Skeleton3D", "Skeleton3DArray": "mpm_msgs/msg/Skeleton3DArray",
        "Image": "sensor_msgs/msg/Image", "Quaternion": "geometry_msgs/msg/Quaternion",
        "Transform": "geometry_msgs/msg/Transform", "TransformStamped": "geometry_msgs/msg/TransformStamped",
        "TFMessage": "tf2_msgs/msg/TFMessage"}.items()}


def camera_info_msg(m: dict[str, Any], header: Any, cam: camlib.VirtualCamera) -> Any:
    k = cam.intrinsics.reshape(-1)
    p = np.hstack([cam.intrinsics, np.zeros((3, 1))]).reshape(-1)
    return m["CameraInfo"](header=header, height=cam.height, width=cam.width, distortion_model="plumb_bob",
                           d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
                           roi=m["RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def depth_msg(m: dict[str, Any], header: Any, depth_mm: np.ndarray) -> Any:
    height, width = depth_mm.shape
    return m["Image"](header=header, height=height, width=width, encoding="16UC1", is_bigendian=0, step=2 * width,
                      data=np.ascontiguousarray(depth_mm, "<u2").view(np.uint8).reshape(-1))


def _depth_frame(rgbd: rgbd_scene.RgbdFrames, frame: int, tracks: list[PersonTrack],
                 observations: list[Observation], cam: camlib.VirtualCamera) -> np.ndarray:
    """Render frame `frame`; joints it hides behind occluders or other people lose their 2D confidence."""
    people = {t.track_id: o.joints_cam[frame - t.start] for t, o in zip(tracks, observations)
              if t.start <= frame < t.end}
    pixels = {track: camlib.project(np.maximum(joints, [-np.inf, -np.inf, MIN_DEPTH_M]), cam)
              for track, joints in people.items()}
    depth_mm, hidden = rgbd.frame(frame, people, pixels)
    for track, obs in zip(tracks, observations):
        if track.track_id in hidden:
            obs.confidence[frame - track.start][hidden[track.track_id]] = 0.0
    return depth_mm


def write_bag(out: Path, tracks: list[PersonTrack], observations: list[Observation], cam: camlib.VirtualCamera,
              num_frames: int, fps: float, storage: str, rgbd: rgbd_scene.RgbdFrames | None = None) -> dict[str, int]:
    """Write all frames (with a depth image each when `rgbd` is given); returns message counts per topic."""
    store = bag_io.typestore()
    m = _messages(store)
    writer = bag_io.open_writer(out, storage)
    counts = {t: 0 for t in ((bag_io.DEPTH_TOPIC,) if rgbd else ()) + (
        bag_io.CAMERA_INFO_TOPIC, bag_io.KEYPOINTS_TOPIC, bag_io.GROUND_TRUTH_TOPIC, bag_io.TF_STATIC_TOPIC)}
    try:
        conns = {topic: writer.add_connection(topic, bag_io.KNOWN_TOPIC_TYPES[topic], typestore=store,
                                              offered_qos_profiles=[bag_io.STATIC_QOS] * (
                                                  topic == bag_io.TF_STATIC_TOPIC))
                 for topic in counts}
        for frame in range(num_frames):
            stamp = START_TIME_NS + round(frame * 1e9 / fps)
            header = m["Header"](stamp=m["Time"](sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                                 frame_id=bag_io.FRAME_ID)
            skeletons2d, skeletons3d = [], []
            payloads = {} if frame else {bag_io.TF_STATIC_TOPIC: tf_static_msg(m, header, cam)}  # once, latched
            if rgbd is not None:  # before the keypoints: depth usually arrives before the detector's keypoints
                depth_mm = _depth_frame(rgbd, frame, tracks, observations, cam)
                payloads[bag_io.DEPTH_TOPIC] = depth_msg(m, header, depth_mm)
            for track, obs in zip(tracks, observations):
                if not track.start <= frame < track.end:
                    continue
                i = frame - track.start
                if obs.present[i]:
                    keypoints = [m["Keypoint2D"](x=float(u), y=float(v), confidence=float(c))
                                 for (u, v), c in zip(obs.uv[i], obs.confidence[i])]
                    skeletons2d.append(m["Skeleton2D"](track_id=track.track_id, layout="h36m17", keypoints=keypoints))
                visible = obs.confidence[i] > 0 if obs.present[i] else np.zeros(17, bool)
                velocity = np.gradient(obs.joints_cam[:, 0], axis=0)[i] * fps  # (3,) m/s, the root's true velocity
                skeletons3d.append(m["Skeleton3D"](
                    track_id=track.track_id, joints=[m["Point"](x=float(x), y=float(y), z=float(z))
                                                     for x, y, z in obs.joints_cam[i]],
                    confidence=np.ones(17, np.float32), masked=~visible, placed=True,
                    placement=0, orientations=[], has_velocity=True, root_velocity=m["Vector3"](
                        x=float(velocity[0]), y=float(velocity[1]), z=float(velocity[2])),
                    root_covariance=np.zeros(9)))  # ground truth: camera frame, known (not fitted)
            payloads |= {
                bag_io.CAMERA_INFO_TOPIC: camera_info_msg(m, header, cam),
                bag_io.KEYPOINTS_TOPIC: m["Skeleton2DArray"](header=header, skeletons=skeletons2d),
                bag_io.GROUND_TRUTH_TOPIC: m["Skeleton3DArray"](header=header, skeletons=skeletons3d),
            }
            for topic, msg in payloads.items():
                writer.write(conns[topic], stamp, store.serialize_cdr(msg, bag_io.KNOWN_TOPIC_TYPES[topic]))
                counts[topic] += 1
    finally:
        writer.close()
    return counts


def make_bag(mocap: Path, out: Path, people: int = 2, fps: float = 30.0, noise_px: float = 2.0,
             occlusion: float = 0.1, dropout: float = 0.02, storage: str = "mcap", duration: float = 10.0,
             seed: int = 0, all_visible: bool = False, rgbd: bool = False, occluders: int = 2) -> dict[str, int]:
    """Build the scene and write the bag; returns message counts per topic. `rgbd`: the robot RGB-D scene with
    `occluders` passing in front and a depth image per frame."""
    if people < 1 or fps <= 0 or duration <= 0 or noise_px < 0:
        raise ValueError(f"need people >= 1, fps > 0, duration > 0, noise >= 0; got {people}, {fps}, {duration}, {noise_px}")
    if not (0.0 <= occlusion <= 1.0 and 0.0 <= dropout <= 1.0):
        raise ValueError(f"occlusion and dropout must be probabilities in [0, 1], got {occlusion}, {dropout}")
    if out.exists():
        raise FileExistsError(f"{out} exists already; rosbag2 output must be a new directory")
    rng = np.random.default_rng(seed)
    sequences = [resample(s, fps) for s in load_mocap(mocap)]
    num_frames = max(1, int(round(duration * fps)))
    tracks = build_tracks(sequences, people, num_frames, rng, all_visible, fps)
    depth = None
    if rgbd:
        paths = rgbd_scene.walk_paths(people, num_frames, fps, rng)
        for track, path in zip(tracks, paths):
            track.world = rgbd_scene.place_on_paths([track.world], path[None, track.start:track.end])[0]
        cam = rgbd_scene.rgbd_camera()
        depth = rgbd_scene.RgbdFrames(cam, rgbd_scene.make_occluders(occluders, rng), fps, rng)
    else:
        cam = frame_scene(tracks, rng)
    observations = [observe(t, cam, rng, noise_px, occlusion, dropout) for t in tracks]
    return write_bag(out, tracks, observations, cam, num_frames, fps, storage, depth)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.make_bag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mocap", type=Path, required=True, help="mocap npz in the shared format")
    parser.add_argument("--out", type=Path, required=True, help="output bag directory (must not exist)")
    parser.add_argument("--people", type=int, default=2, help="number of tracked people (default 2)")
    parser.add_argument("--fps", type=float, default=30.0, help="camera frame rate; mocap is resampled (default 30)")
    parser.add_argument("--noise", type=float, default=2.0, help="2D detector jitter sigma in pixels (default 2)")
    parser.add_argument("--occlusion", type=float, default=0.1, help="fraction of occluded joints (default 0.1)")
    parser.add_argument("--dropout", type=float, default=0.02,
                        help="per-frame chance a whole person is missed (bursts of 1-3 frames; default 0.02)")
    parser.add_argument("--storage", choices=sorted(bag_io.STORAGE_PLUGINS), default="mcap")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of recording (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-visible", action="store_true",
                        help="every person in view for the whole recording (no entering/leaving)")
    parser.add_argument("--rgbd", action="store_true", help="robot RGB-D scene: 640x480 camera, people walking "
                        "1.2-7 m away, occluders, an aligned depth image per frame on /depth (16UC1 mm)")
    parser.add_argument("--occluders", type=int, default=2, help="with --rgbd: occluders crossing the view (default 2)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        counts = make_bag(args.mocap, args.out, args.people, args.fps, args.noise, args.occlusion, args.dropout,
                          args.storage, args.duration, args.seed, args.all_visible, args.rgbd, args.occluders)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        raise SystemExit(f"make_bag: {err}") from None
    print(f"make_bag: wrote {args.out} ({args.storage}): {counts}")


if __name__ == "__main__":
    main()
