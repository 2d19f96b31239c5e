"""Pose augmentation: per-bone length scaling (body shape variety); left/right flips are skeleton.flip_pose."""
from __future__ import annotations

import numpy as np
import torch

from mpm_model.data.draws import Draws, NumpyDraws

from mpm_model.skeleton import H36M_LEFT, H36M_PARENTS, H36M_RIGHT, NUM_JOINTS


def _check_joints(array: np.ndarray | torch.Tensor, name: str, channels: tuple[int, ...]) -> None:
    if array.ndim < 2 or array.shape[-2] != NUM_JOINTS or array.shape[-1] not in channels:
        raise ValueError(f"{name}: expected (..., {NUM_JOINTS}, {'|'.join(map(str, channels))}), got {array.shape}")


def scale_bones(poses: np.ndarray, scales: np.ndarray, parents: tuple[int, ...] = H36M_PARENTS) -> np.ndarray:
    """Scale each bone (indexed by its child joint) of (..., J, 3) poses (`scale_bones_batch`)."""
    poses = np.asarray(poses)
    _check_joints(poses, "scale_bones", (3,))
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)
    if scales.shape != (len(parents),) or (scales <= 0).any():
        raise ValueError(f"scale_bones: need {len(parents)} positive scales, got {scales.shape}")
    out = scale_bones_batch(torch.from_numpy(poses.astype(np.float64)), torch.from_numpy(scales), parents).numpy()
    return out.astype(poses.dtype if np.issubdtype(poses.dtype, np.floating) else np.float32)


def scale_bones_batch(poses: torch.Tensor, scales: torch.Tensor, parents: tuple[int, ...] = H36M_PARENTS
                      ) -> torch.Tensor:
    """Scale each bone (indexed by its child joint) of (..., J, 3) poses by `scales` (..., J) (broadcast); the root
    stays put. Bone directions and the kinematic tree are kept: joint j moves to its (moved) parent plus
    `scales[j]` times the original parent→j vector."""
    joints = list(poses.unbind(dim=-2))
    for joint in _topological_order(parents):
        parent = parents[joint]
        if parent >= 0:
            joints[joint] = joints[parent] + scales[..., joint, None] * (poses[..., joint, :] - poses[..., parent, :])
    return torch.stack(joints, dim=-2)


def _topological_order(parents: tuple[int, ...]) -> list[int]:
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(parents):
        ready = [j for j in range(len(parents)) if j not in placed and (parents[j] < 0 or parents[j] in placed)]
        if not ready:
            raise ValueError(f"parents {parents} do not form a tree")
        order.extend(ready)
        placed.update(ready)
    return order


def random_bone_scales(
    rng: np.random.Generator, bone_range: float = 0.1, global_range: float = 0.1
) -> np.ndarray:
    """(J,) scales for one body (`bone_scale_draws`)."""
    return bone_scale_draws(NumpyDraws(rng), bone_range, global_range)[0].numpy()


def bone_scale_draws(draws: Draws, bone_range: float = 0.1, global_range: float = 0.1) -> torch.Tensor:
    """(B, J) scales: a global body size factor times per-bone factors shared by left/right pairs."""
    if not (0.0 <= bone_range < 1.0 and 0.0 <= global_range < 1.0):
        raise ValueError(f"bone_range and global_range must be in [0, 1), got {bone_range}, {global_range}")
    scales = draws.uniform(1.0 - bone_range, 1.0 + bone_range, (NUM_JOINTS,))
    scales[:, list(H36M_LEFT)] = scales[:, list(H36M_RIGHT)]  # symmetric body
    scales[:, 0] = 1.0
    return scales * draws.uniform(1.0 - global_range, 1.0 + global_range)[:, None]
