"""Procedural (synthetic, NOT captured) human motion on the H36M-17 skeleton.

Used by tests and the demo clip when no mocap data is available. Each sequence strings together
activities — walking along a curving path with arm swing, turning on the spot, waving, squatting,
standing — blended smoothly, rendered by forward kinematics with fixed bone lengths of a ~1.7 m
person (z up, metres). The root height is set per frame so the lower ankle sits at ankle height,
which keeps the feet on the ground (z = 0) through squats and strides.
"""
from __future__ import annotations

import numpy as np

from mpm_model.data.mocap import DEFAULT_FPS, MocapSequence
from mpm_model.skeleton import H36M_PARENTS, NUM_JOINTS

# Bone lengths in metres, indexed by child joint (root entry unused); pelvis→head top ≈ 0.72 m,
# legs 0.89 m + 0.08 m ankle height → ≈ 1.7 m tall.
BONE_LENGTHS = np.array([0.0, 0.13, 0.45, 0.44, 0.13, 0.45, 0.44, 0.23, 0.25, 0.12, 0.12,
                         0.15, 0.28, 0.25, 0.15, 0.28, 0.25])
ANKLE_HEIGHT = 0.08
ACTIVITIES = ("walk", "turn", "wave", "squat", "stand")
ACTIVITY_PROBS = (0.45, 0.15, 0.15, 0.15, 0.10)
BLEND_SECONDS = 0.4

FWD, LEFT, UP = np.eye(3)  # body frame axes


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _sagittal(angle: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(T, 3) directions rotated from `base` (down or up) towards forward by `angle` (T,)."""
    return np.cos(angle)[:, None] * base + np.sin(angle)[:, None] * FWD


def _slerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-vector spherical interpolation of unit vectors (T, J, 3) by weights (T,): constant
    angular speed, so bones never whip through the short way of a near-antipodal blend."""
    cos = np.clip((a * b).sum(-1, keepdims=True), -1.0, 1.0)
    angle = np.arccos(cos)
    sin = np.sin(angle)
    w = w[:, None, None]
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    out = np.where(small, (1 - w) * a + w * b, (np.sin((1 - w) * angle) * a + np.sin(w * angle) * b) / safe)
    return _unit(out)


def _standing_pose(T: int) -> np.ndarray:
    """(T, J, 3) body-frame bone directions of a relaxed upright pose."""
    dirs = np.zeros((T, NUM_JOINTS, 3))
    dirs[:, 0] = UP  # the root has no bone; any unit vector keeps the blending finite
    dirs[:, 1] = -LEFT
    dirs[:, 4] = LEFT
    dirs[:, [2, 3, 5, 6]] = -UP
    dirs[:, [7, 8, 10]] = UP
    dirs[:, 9] = _unit(UP + 0.3 * FWD)
    dirs[:, 11] = _unit(LEFT - 0.2 * UP)
    dirs[:, 14] = _unit(-LEFT - 0.2 * UP)
    dirs[:, [12, 15]] = _unit(-UP + 0.05 * FWD)
    dirs[:, [13, 16]] = _unit(-UP + 0.25 * FWD)
    return dirs


def _legs(dirs: np.ndarray, hip: np.ndarray, knee: np.ndarray, right: bool) -> None:
    """Set thigh/shank directions from hip flexion and knee flexion angles (T,)."""
    thigh, shank = (2, 3) if right else (5, 6)
    dirs[:, thigh] = _sagittal(hip, -UP)
    dirs[:, shank] = _sagittal(hip - knee, -UP)


def _arm(dirs: np.ndarray, swing: np.ndarray, elbow: np.ndarray, right: bool) -> None:
    """Set upper arm / forearm directions from shoulder swing and elbow flexion (T,)."""
    upper, fore = (15, 16) if right else (12, 13)
    dirs[:, upper] = _sagittal(swing, -UP)
    dirs[:, fore] = _sagittal(swing + elbow, -UP)


def _activity(
    kind: str, t: np.ndarray, phase: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bone directions (T, J, 3), forward speed (T,) m/s and yaw rate (T,) rad/s of one activity."""
    T = t.shape[0]
    dirs = _standing_pose(T)
    speed = np.zeros(T)
    yaw_rate = np.zeros(T)
    if kind in ("walk", "turn"):
        amp = 0.45 if kind == "walk" else 0.2
        for right, shift in ((True, 0.0), (False, np.pi)):
            p = phase + shift
            _legs(dirs, amp * np.sin(p), 0.15 + 0.9 * amp * np.clip(np.cos(p), 0, None) ** 1.5, right)
            _arm(dirs, -0.6 * amp * np.sin(p), 0.3 + 0.2 * amp * (1 - np.cos(p)), right)
        sway = 0.15 * amp * np.sin(phase)
        dirs[:, 1] = _unit(-LEFT[None] * np.cos(sway)[:, None] - FWD[None] * np.sin(sway)[:, None])
        dirs[:, 4] = -dirs[:, 1]
        dirs[:, 7] = _unit(UP + 0.08 * FWD)
        if kind == "walk":
            speed[:] = rng.uniform(0.9, 1.5)
            period, offset = rng.uniform(3.0, 6.0), rng.uniform(0, 2 * np.pi)
            yaw_rate[:] = rng.uniform(-0.4, 0.4) * np.sin(2 * np.pi * t / period + offset)
        else:
            yaw_rate[:] = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.5)
    elif kind == "wave":
        side = rng.choice([-1.0, 1.0])  # +1 left arm, -1 right arm
        upper, fore = (12, 13) if side > 0 else (15, 16)
        wag = 0.4 * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
        dirs[:, upper] = _unit(side * LEFT + 0.6 * UP + 0.2 * FWD)
        dirs[:, fore] = _unit(np.cos(wag)[:, None] * UP + side * np.sin(wag)[:, None] * LEFT + 0.2 * FWD)
        _legs(dirs, np.full(T, 0.03), np.full(T, 0.06), True)
        _legs(dirs, np.full(T, 0.03), np.full(T, 0.06), False)
    elif kind == "squat":
        depth = rng.uniform(0.6, 1.0)
        s = depth * 0.5 * (1 - np.cos(2 * np.pi * t / rng.uniform(2.0, 3.0)))
        for right in (True, False):
            _legs(dirs, 1.2 * s, 2.0 * s, right)
            _arm(dirs, 1.3 * s, 0.2 + 0.3 * s, right)
        dirs[:, 7] = _sagittal(0.6 * s, UP)
        dirs[:, 8] = _sagittal(0.5 * s, UP)
    else:  # stand: breathing-sized sway
        sway = 0.03 * np.sin(2 * np.pi * 0.3 * t)
        dirs[:, 7] = _sagittal(sway, UP)
        _arm(dirs, sway, np.full(T, 0.2), True)
        _arm(dirs, -sway, np.full(T, 0.2), False)
    return dirs, speed, yaw_rate


def _schedule(T: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(len(ACTIVITIES), T) blend weights: 2–4 s segments of random activities, crossfaded."""
    labels = np.empty(T, dtype=np.int64)
    start = 0
    previous = -1
    while start < T:
        length = max(1, int(rng.uniform(2.0, 4.0) * fps))
        kind = previous
        while kind == previous:
            kind = int(rng.choice(len(ACTIVITIES), p=ACTIVITY_PROBS))
        labels[start:start + length] = kind
        previous = kind
        start += length
    onehot = np.eye(len(ACTIVITIES))[labels].T  # (A, T)
    width = max(1, int(BLEND_SECONDS * fps))
    kernel = np.hanning(2 * width + 1)
    kernel /= kernel.sum()
    padded = np.pad(onehot, ((0, 0), (width, width)), mode="edge")
    weights = np.stack([np.convolve(row, kernel, mode="valid") for row in padded])
    return weights / weights.sum(axis=0, keepdims=True)


def forward_kinematics(dirs: np.ndarray, lengths: np.ndarray, yaw: np.ndarray, root_xy: np.ndarray) -> np.ndarray:
    """Body-frame bone directions (T, J, 3) → world joints (T, J, 3), feet on the ground."""
    T = dirs.shape[0]
    cos, sin = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((T, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = cos, -sin, sin, cos, 1.0
    world_dirs = np.einsum("tij,tkj->tki", rot, _unit(dirs))
    joints = np.zeros((T, NUM_JOINTS, 3))
    for child, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            joints[:, child] = joints[:, parent] + lengths[child] * world_dirs[:, child]
    joints[:, :, 2] += ANKLE_HEIGHT - np.minimum(joints[:, 3, 2], joints[:, 6, 2])[:, None]
    joints[:, :, :2] += root_xy[:, None, :]
    return joints


def synthetic_sequence(num_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(num_frames, 17, 3) world poses of one random multi-activity clip."""
    t = np.arange(num_frames) / fps
    phase = 2 * np.pi * rng.uniform(0.85, 1.0) * t + rng.uniform(0, 2 * np.pi)  # gait cycles ≈ 0.9 Hz
    weights = _schedule(num_frames, fps, rng)
    dirs = np.zeros((num_frames, NUM_JOINTS, 3))
    speed = np.zeros(num_frames)
    yaw_rate = np.zeros(num_frames)
    total = np.zeros(num_frames)
    for k, kind in enumerate(ACTIVITIES):
        d, v, w = _activity(kind, t, phase, rng)
        total += weights[k]
        share = np.divide(weights[k], total, out=np.zeros(num_frames), where=total > 0)
        dirs = _slerp(dirs, _unit(d), share) if k else _unit(d)
        speed += weights[k] * v
        yaw_rate += weights[k] * w
    yaw = rng.uniform(0, 2 * np.pi) + np.cumsum(yaw_rate) / fps
    step = speed[:, None] * np.stack([np.cos(yaw), np.sin(yaw)], axis=1) / fps
    root_xy = rng.uniform(-1.0, 1.0, size=2) + np.cumsum(step, axis=0) - step[0]
    lengths = BONE_LENGTHS * rng.uniform(0.93, 1.07)
    return forward_kinematics(dirs, lengths, yaw, root_xy)


def synthetic_sequences(
    num_sequences: int, num_frames: int, fps: float = DEFAULT_FPS, seed: int = 0
) -> list[MocapSequence]:
    """`num_sequences` synthetic clips of `num_frames` frames; each is its own subject ("synth00", ...)."""
    if num_sequences < 1 or num_frames < 1 or not fps > 0:
        raise ValueError(f"synthetic_sequences: need num_sequences, num_frames >= 1 and fps > 0, "
                         f"got {num_sequences}, {num_frames}, {fps}")
    sequences = []
    for i in range(num_sequences):
        rng = np.random.default_rng([seed, i])
        poses = synthetic_sequence(num_frames, fps, rng)
        sequences.append(MocapSequence(f"synthetic_{i:03d}", f"synth{i:02d}", fps, poses, "synthetic-procedural"))
    return sequences
