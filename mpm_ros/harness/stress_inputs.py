"""The inputs of the stress runs (mpm_ros.harness.stress): a projected walker, message builders, every bad-input class
of issue 11 with the counter it must raise, and seeded random mutations of valid messages (ROS messages only)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray
from sensor_msgs.msg import CameraInfo

from mpm_model.data.camera import look_at
from mpm_model.data.synthetic import synthetic_sequence
from mpm_ros import messages

WIDTH, HEIGHT, FOCAL, FPS = 1000, 1000, 1145.0, 30.0
K = [FOCAL, 0.0, WIDTH / 2, 0.0, FOCAL, HEIGHT / 2, 0.0, 0.0, 1.0]
FRAME_ID = "stress_camera_optical"
PERIOD_NS = int(1e9 / FPS)
GOOD = (1, 2)  # the good tracks; bad skeletons reuse track 1 (a detector glitch on a real person), mutations 100+


def walking_pixels(frames: int, seed: int) -> np.ndarray:
    """(frames, 17, 2) pixels of a procedural walker 6 m from the camera."""
    world = synthetic_sequence(frames, FPS, np.random.default_rng(seed))
    target = world[:, 0].mean(axis=0)
    position = target + np.array([0.0, -6.0, 0.5])
    camera = (world - position) @ look_at(position, target).T
    return camera[..., :2] / camera[..., 2:3] * FOCAL + [WIDTH / 2, HEIGHT / 2]


def walker_frame(pixels: np.ndarray, k: int) -> np.ndarray:
    """Frame k of a walker played forwards and backwards (a short clip stays in view, and has no jumps)."""
    period = 2 * len(pixels) - 2
    i = k % period
    return pixels[i if i < len(pixels) else period - i]


def keypoints_msg(stamp_ns: int, tracks: dict[int, np.ndarray], confidence: float | np.ndarray = 0.9,
                  layout: str = Skeleton2D.LAYOUT_H36M17) -> Skeleton2DArray:
    msg = Skeleton2DArray()
    msg.header.frame_id = FRAME_ID
    msg.header.stamp = messages.time_from_ns(stamp_ns) if stamp_ns >= 0 else msg.header.stamp
    for track_id, pixels in tracks.items():
        conf = np.broadcast_to(np.asarray(confidence, np.float64), (len(pixels),))
        msg.skeletons.append(Skeleton2D(track_id=track_id, layout=layout, keypoints=[
            Keypoint2D(x=float(x), y=float(y), confidence=float(c)) for (x, y), c in zip(pixels, conf)]))
    return msg


def camera_info(k: list[float] = K, width: int = WIDTH, height: int = HEIGHT) -> CameraInfo:
    msg = CameraInfo(width=width, height=height)
    msg.header.frame_id = FRAME_ID
    msg.k = [float(v) for v in k]
    return msg


# ---- bad-input classes: (name, counter that must grow, builder(good stamp, pose) -> message) -------------------
def _with(msg: Skeleton2DArray, **header) -> Skeleton2DArray:
    for key, value in header.items():
        setattr(msg.header, key, value)
    return msg


def _cut(msg: Skeleton2DArray, keep: int) -> Skeleton2DArray:
    msg.skeletons[0].keypoints = msg.skeletons[0].keypoints[:keep]
    return msg


def _twice(msg: Skeleton2DArray) -> Skeleton2DArray:
    msg.skeletons = list(msg.skeletons) * 2
    return msg


def _negative_stamp(msg: Skeleton2DArray) -> Skeleton2DArray:
    msg.header.stamp.sec = -5
    return msg


HALF = PERIOD_NS // 2
Builder = Callable[[int, np.ndarray], "Skeleton2DArray | CameraInfo"]
BAD_INPUTS: list[tuple[str, str, Builder]] = [
    ("all_nan", "dropped.too_few_visible_joints", lambda s, p: keypoints_msg(s + HALF, {1: p * np.nan})),
    ("all_inf", "dropped.too_few_visible_joints", lambda s, p: keypoints_msg(s + HALF, {1: p * np.inf})),
    ("all_x_minus_2000", "dropped.too_few_visible_joints",
     lambda s, p: keypoints_msg(s + HALF, {1: np.full_like(p, -2000.0)})),
    ("all_1e30", "dropped.too_few_visible_joints",
     lambda s, p: keypoints_msg(s + HALF, {1: np.tile([1e30, -1e30], (17, 1))})),
    ("all_outside_image", "masked.outside_image", lambda s, p: keypoints_msg(s + HALF, {1: p + 5000.0})),
    ("three_visible_joints", "dropped.too_few_visible_joints",
     lambda s, p: keypoints_msg(s + HALF, {1: p}, confidence=np.where(np.arange(17) < 3, 0.9, 0.0))),
    ("all_confidence_zero", "dropped.too_few_visible_joints", lambda s, p: keypoints_msg(s + HALF, {1: p}, 0.0)),
    ("confidence_5", "masked.confidence_above_one", lambda s, p: keypoints_msg(s + HALF, {1: p}, 5.0)),
    ("confidence_1e30", "masked.confidence_above_one", lambda s, p: keypoints_msg(s + HALF, {1: p}, 1e30)),
    ("confidence_nan", "masked.non_finite_keypoints", lambda s, p: keypoints_msg(s + HALF, {1: p}, np.nan)),
    ("some_nan_joints", "masked.non_finite_keypoints",
     lambda s, p: keypoints_msg(s + HALF, {1: np.where(np.arange(17)[:, None] < 4, np.nan, p)})),
    ("16_keypoints", "dropped.wrong_joint_count", lambda s, p: _cut(keypoints_msg(s + HALF, {1: p}), 16)),
    ("no_keypoints", "dropped.wrong_joint_count", lambda s, p: _cut(keypoints_msg(s + HALF, {1: p}), 0)),
    ("unknown_layout", "dropped.unknown_layout",
     lambda s, p: keypoints_msg(s + HALF, {1: p}, layout="openpose25")),
    ("10k_layout_string", "dropped.unknown_layout", lambda s, p: keypoints_msg(s + HALF, {1: p}, layout="x" * 10**4)),
    ("coco17_wrong_count", "dropped.wrong_joint_count",
     lambda s, p: _cut(keypoints_msg(s + HALF, {1: p}, layout=Skeleton2D.LAYOUT_COCO17), 12)),
    ("empty_message", "dropped.empty_message", lambda s, p: keypoints_msg(s + HALF, {})),
    ("duplicate_track_id", "dropped.duplicate_track_id", lambda s, p: _twice(keypoints_msg(s + HALF, {1: p}))),
    ("40_new_tracks", "dropped.too_many_tracks", lambda s, p: keypoints_msg(s + HALF, {200 + k: p for k in range(40)})),
    ("1000_skeletons", "dropped.oversized_message",
     lambda s, p: keypoints_msg(s + HALF, {300 + k: p for k in range(1000)})),
    ("1000_char_frame_id", "dropped.invalid_frame_id",
     lambda s, p: _with(keypoints_msg(s + HALF, {1: p}), frame_id="f" * 1000)),
    ("frame_id_newline", "dropped.invalid_frame_id",
     lambda s, p: _with(keypoints_msg(s + HALF, {1: p}), frame_id="cam\nera")),
    ("200kB_frame_id", "dropped.oversized_message",  # (1 MB best-effort messages get lost in transport here)
     lambda s, p: _with(keypoints_msg(s + HALF, {1: p}), frame_id="f" * 200_000)),
    ("stamp_zero", "dropped.stamp_outlier", lambda s, p: keypoints_msg(0, {1: p})),
    ("stamp_far_future", "dropped.stamp_outlier", lambda s, p: keypoints_msg(s + 10**6 * 10**9, {1: p})),
    ("stamp_negative", "dropped.stamp_outlier", lambda s, p: _negative_stamp(keypoints_msg(s, {1: p}))),
    ("stamp_duplicate", "dropped.duplicate_stamp", lambda s, p: keypoints_msg(s, {1: p})),
    ("stamp_out_of_order", "dropped.out_of_order_stamp", lambda s, p: keypoints_msg(s - HALF, {1: p})),
    ("stamp_5s_back", "dropped.stamp_outlier", lambda s, p: keypoints_msg(s - 5 * 10**9, {1: p})),
    ("camera_fx_1e-30", "dropped.invalid_camera_info", lambda s, p: camera_info([1e-30] + K[1:])),
    ("camera_k_nan", "dropped.invalid_camera_info", lambda s, p: camera_info([float("nan")] * 9)),
    ("camera_k_zero", "dropped.invalid_camera_info", lambda s, p: camera_info([0.0] * 9)),
    ("camera_width_0", "dropped.invalid_camera_info", lambda s, p: camera_info(width=0)),
    ("camera_cx_1e9", "dropped.invalid_camera_info", lambda s, p: camera_info(K[:2] + [1e9] + K[3:])),
    ("camera_fy_negative", "dropped.invalid_camera_info", lambda s, p: camera_info(K[:4] + [-FOCAL] + K[5:])),
    ("camera_fx_1e30", "dropped.invalid_camera_info", lambda s, p: camera_info([1e30] + K[1:])),
    ("camera_k_inf", "dropped.invalid_camera_info", lambda s, p: camera_info([float("inf")] + K[1:])),
    ("camera_10x_focal_skew", "dropped.invalid_camera_info", lambda s, p: camera_info(K[:3] + [5.0] + K[4:])),
]


def mutate(rng: np.random.Generator, stamp_ns: int, pose: np.ndarray) -> Skeleton2DArray:
    """A random corruption of a valid message: bad values, lengths, layouts, ids, frame ids and stamp offsets."""
    tracks = {int(rng.integers(100, 140)): pose.copy() for _ in range(int(rng.integers(0, 5)))}
    for pixels in tracks.values():
        joints = rng.random(17) < rng.random()
        pixels[joints] = rng.choice([np.nan, np.inf, -np.inf, 1e30, -1e30, -1.0, 1e6, 0.0], size=(joints.sum(), 2))
    confidence = rng.choice([0.9, 0.0, -1.0, 1.0, 1.0000001, 2.0, np.nan, np.inf, 1e30], size=17,
                            p=[0.6] + [0.05] * 8)
    layout = str(rng.choice(["h36m17", "h36m17", "coco17", "", "H36M17", "x" * int(rng.integers(1, 3000))]))
    offset = int(rng.choice([HALF, HALF, HALF, 0, -HALF, -10**10, 10**14, int(rng.integers(-10**9, 10**9))]))
    msg = keypoints_msg(max(stamp_ns + offset, 0), tracks, confidence, layout)
    for skeleton in msg.skeletons:
        if rng.random() < 0.2:
            skeleton.keypoints = skeleton.keypoints[:int(rng.integers(0, 40))] * int(rng.integers(1, 3))
        if rng.random() < 0.1:
            skeleton.track_id = int(rng.choice([0, 2**32 - 1]))
    if rng.random() < 0.1:
        msg.header.frame_id = "".join(rng.choice(list("ab /\n\té"), size=int(rng.integers(0, 400))))
    if rng.random() < 0.1:
        msg.skeletons = list(msg.skeletons) * 2
    return msg
