"""Torch datasets of fixed-length windows cut from mocap sequences seen by virtual cameras.

Every frame of every sequence is the target frame (`target_index` inside the window) of one
window per stride step; frames outside the sequence are replicated from its ends. Cameras are
Human3.6M-like (`camera.sample_camera`): for window i of sequence s and camera c, the camera's
focal, distance, elevation and azimuth are fixed per (seed, s, c) and it looks at the root of the
window's target frame (plus a fixed offset per camera so the subject is not always centred).
Augmentations (bone scaling, flip) draw from (seed, epoch, item); call `set_epoch` each epoch.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from mpm_model.data.augment import flip_pose, random_bone_scales, scale_bones
from mpm_model.data.camera import VirtualCamera, normalize_screen, project, sample_camera, world_to_camera
from mpm_model.data.mocap import DEFAULT_FPS, MocapSequence, resample
from mpm_model.data.occlusion import detector_noise, occlusion_mask
from mpm_model.skeleton import NUM_JOINTS, ROOT_JOINT


def window_frames(num_frames: int, target: int, window: int, target_index: int) -> np.ndarray:
    """(window,) frame indices placing `target` at `target_index`, clamped to the sequence (edge replicate)."""
    start = target - target_index
    return np.clip(np.arange(start, start + window), 0, num_frames - 1)


def split_unpaired(sequences: list[MocapSequence], seed: int = 0) -> tuple[list[MocapSequence], list[MocapSequence]]:
    """Disjoint halves (for 2D, for 3D) so unpaired pretraining never sees both views of a clip.

    Whole sequences are shuffled by `seed` and dealt alternately; a single sequence is cut in time.
    """
    if not sequences:
        raise ValueError("split_unpaired: no sequences")
    if len(sequences) == 1:
        seq = sequences[0]
        if len(seq) < 2:
            raise ValueError(f"split_unpaired: sequence {seq.name!r} is too short to split")
        half = len(seq) // 2
        return ([MocapSequence(f"{seq.name}[2d]", seq.subject, seq.fps, seq.poses3d[:half], seq.source)],
                [MocapSequence(f"{seq.name}[3d]", seq.subject, seq.fps, seq.poses3d[half:], seq.source)])
    order = np.random.default_rng(seed).permutation(len(sequences))
    return [sequences[i] for i in order[0::2]], [sequences[i] for i in order[1::2]]


class _WindowIndex(Dataset):
    """Shared bookkeeping: resampling, (sequence, camera, target frame) items, epochs."""

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int, cameras_per_seq: int,
                 seed: int, augment: bool, fps: float, target_index: int | None) -> None:
        if not sequences:
            raise ValueError("windows: no sequences given")
        if window < 1 or stride < 1 or cameras_per_seq < 1:
            raise ValueError("windows: window, stride and cameras_per_seq must be >= 1, "
                             f"got {window}, {stride}, {cameras_per_seq}")
        self.target_index = window // 2 if target_index is None else int(target_index)
        if not 0 <= self.target_index < window:
            raise ValueError(f"windows: target_index must be in [0, {window}), got {target_index}")
        self.sequences = [resample(s, fps) if abs(s.fps - fps) > 1e-9 else s for s in sequences]
        self.window, self.stride, self.cameras_per_seq = window, stride, cameras_per_seq
        self.seed, self.augment, self.epoch = seed, augment, 0
        items = [(s, c, f) for s, seq in enumerate(self.sequences) for c in range(cameras_per_seq)
                 for f in range(0, len(seq), stride)]
        self.items = np.asarray(items, dtype=np.int64).reshape(-1, 3)  # (items, [seq, camera, frame])

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (cameras stay fixed per seed)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def _world_window(self, index: int) -> tuple[np.ndarray, np.random.Generator, int, int]:
        """(T, J, 3) world poses of item `index`, augmented; plus its camera rng and ids."""
        if not 0 <= index < len(self):
            raise IndexError(f"window index {index} out of range [0, {len(self)})")
        s, c, f = (int(v) for v in self.items[index])
        poses = self.sequences[s].poses3d[window_frames(len(self.sequences[s]), f, self.window, self.target_index)]
        aug_rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        if self.augment:
            poses = scale_bones(poses, random_bone_scales(aug_rng))
        return poses, aug_rng, s, c

    def _camera(self, s: int, c: int, poses: np.ndarray) -> VirtualCamera:
        cam_rng = np.random.default_rng([self.seed, s, c, 0])
        offset = np.append(cam_rng.uniform(-0.3, 0.3, size=2), 0.0)
        return sample_camera(cam_rng, poses[self.target_index, ROOT_JOINT] + offset)

    def camera(self, index: int) -> VirtualCamera:
        """The virtual camera of item `index` (bone scaling never moves the root it looks at)."""
        poses, _, s, c = self._world_window(index)
        return self._camera(s, c, poses)


class LiftingWindows(_WindowIndex):
    """Paired windows: dict(keypoints2d (T,J,2) float32 normalised screen, mask (T,J) bool True=masked,
    pose3d (T,J,3) float32 root-relative camera-frame metres). Masked 2D entries are 0.

    Joints projecting outside the image are masked (a detector cannot see them); `noise_px` and
    `outlier_prob` model detector error, `occlusion` is the extra masked ratio (joints, limbs, frames).
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, cameras_per_seq: int = 4,
                 seed: int = 0, augment: bool = True, noise_px: float = 2.0, occlusion: float = 0.0,
                 fps: float = DEFAULT_FPS, target_index: int | None = None, outlier_prob: float = 0.0) -> None:
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, fps, target_index)
        if noise_px < 0 or not 0.0 <= occlusion <= 1.0:
            raise ValueError("LiftingWindows: noise_px must be >= 0 and occlusion in [0, 1], "
                             f"got {noise_px}, {occlusion}")
        self.noise_px, self.occlusion, self.outlier_prob = noise_px, occlusion, outlier_prob

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        poses, rng, s, c = self._world_window(index)
        cam = self._camera(s, c, poses)
        cam_poses = world_to_camera(poses, cam)  # (T, J, 3)
        if self.augment and rng.random() < 0.5:
            cam_poses = flip_pose(cam_poses)  # principal point is centred: 2D flips along
        uv = project(cam_poses, cam)  # (T, J, 2)
        outside = (uv[..., 0] < 0) | (uv[..., 0] >= cam.width) | (uv[..., 1] < 0) | (uv[..., 1] >= cam.height)
        if self.noise_px > 0 or self.outlier_prob > 0:
            uv = detector_noise(uv, rng, self.noise_px, self.outlier_prob)
        mask = outside
        if self.occlusion > 0:
            mask = mask | occlusion_mask(rng, self.window, NUM_JOINTS, self.occlusion)
        keypoints = normalize_screen(uv, cam.width, cam.height).astype(np.float32)
        keypoints[mask] = 0.0
        pose3d = cam_poses - cam_poses[:, ROOT_JOINT:ROOT_JOINT + 1]
        return {
            "keypoints2d": torch.from_numpy(keypoints),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)),
            "pose3d": torch.from_numpy(pose3d.astype(np.float32)),
        }


class Pose2DWindows(LiftingWindows):
    """2D-only windows for masked 2D pretraining: dict(keypoints2d, mask) as in `LiftingWindows`.

    With `unpaired=True` only the 2D half of `split_unpaired(sequences, seed)` is used.
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, cameras_per_seq: int = 4,
                 seed: int = 0, augment: bool = True, noise_px: float = 2.0, occlusion: float = 0.0,
                 fps: float = DEFAULT_FPS, target_index: int | None = None, outlier_prob: float = 0.0,
                 unpaired: bool = False) -> None:
        if unpaired:
            sequences = split_unpaired(sequences, seed)[0]
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, noise_px, occlusion,
                         fps, target_index, outlier_prob)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        return {"keypoints2d": item["keypoints2d"], "mask": item["mask"]}


class Pose3DWindows(_WindowIndex):
    """3D-only windows for masked 3D pretraining: dict(pose3d (T,J,3) float32 root-relative metres in
    the frame of a random Human3.6M-like camera).

    With `unpaired=True` only the 3D half of `split_unpaired(sequences, seed)` is used.
    """

    def __init__(self, sequences: list[MocapSequence], window: int, stride: int = 1, seed: int = 0,
                 augment: bool = True, cameras_per_seq: int = 4, fps: float = DEFAULT_FPS,
                 target_index: int | None = None, unpaired: bool = False) -> None:
        if unpaired:
            sequences = split_unpaired(sequences, seed)[1]
        super().__init__(sequences, window, stride, cameras_per_seq, seed, augment, fps, target_index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        poses, rng, s, c = self._world_window(index)
        cam = self._camera(s, c, poses)
        cam_poses = world_to_camera(poses, cam)
        if self.augment and rng.random() < 0.5:
            cam_poses = flip_pose(cam_poses)
        pose3d = cam_poses - cam_poses[:, ROOT_JOINT:ROOT_JOINT + 1]
        return {"pose3d": torch.from_numpy(pose3d.astype(np.float32))}

