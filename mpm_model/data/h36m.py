"""Readers for the Human3.6M npz files prepared by VideoPose3D (no data ships with this repo).

- ``data_3d_h36m.npz``: key `positions_3d` = dict subject → action → (N, 32, 3) float world
  positions in metres (z up), 50 Hz. Reduced to 17 joints with `H36M32_TO_17`.
- ``data_2d_h36m_<detector>.npz``: key `positions_2d` = dict subject → action → list over the 4
  cameras of (N, 17, 2|3) pixels; key `metadata` = dict(layout_name, num_joints,
  keypoints_symmetry=[left joints, right joints]).

Camera order is VideoPose3D's: 54138969, 55011271, 58860488, 60457274, with image sizes
`H36M_CAMERA_RESOLUTIONS` (needed to normalise the 2D keypoints).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from mpm_model.data.mocap import MocapSequence
from mpm_model.skeleton import H36M32_TO_17, NUM_JOINTS

H36M_FPS = 50.0
H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
H36M_CAMERA_RESOLUTIONS = ((1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002))  # (width, height)


def _load_dict(path: str | os.PathLike, key: str) -> tuple[dict, dict[str, np.ndarray]]:
    """`key` of an npz that stores a dict as a 0-d object array → (that dict, all arrays)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Human3.6M file not found: {path}")
    with np.load(path, allow_pickle=True) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if key not in arrays:
        raise ValueError(f"{path}: expected key {key!r} (VideoPose3D layout), found keys {sorted(arrays)}")
    value = arrays[key]
    if not (value.dtype == object and value.ndim == 0 and isinstance(value.item(), dict)):
        raise ValueError(f"{path}: {key!r} must be a dict subject → action → array, "
                         f"got {value.dtype} {value.shape}")
    return value.item(), arrays


def load_h36m_3d(path: str | os.PathLike) -> list[MocapSequence]:
    """VideoPose3D ``data_3d_h36m.npz`` → one 17-joint MocapSequence per (subject, action), 50 Hz."""
    tree, _ = _load_dict(path, "positions_3d")
    sequences = []
    for subject in sorted(tree):
        for action in sorted(tree[subject]):
            poses = np.asarray(tree[subject][action], dtype=np.float32)
            if poses.ndim != 3 or poses.shape[-1] != 3 or poses.shape[1] not in (32, NUM_JOINTS):
                raise ValueError(f"{path}: {subject}/{action} must be (N, 32 or 17, 3), got {poses.shape}")
            if not np.isfinite(poses).all():
                raise ValueError(f"{path}: {subject}/{action} contains NaN/inf coordinates")
            if poses.shape[1] == 32:
                poses = poses[:, list(H36M32_TO_17)]
            sequences.append(MocapSequence(f"{subject}/{action}", str(subject), H36M_FPS, poses, "human3.6m"))
    if not sequences:
        raise ValueError(f"{path}: positions_3d holds no sequences")
    return sequences


@dataclass
class H36MKeypoints2D:
    """2D detections: positions[subject][action][camera] = (N, J, 2) float32 pixels."""

    positions: dict[str, dict[str, list[np.ndarray]]]
    layout_name: str
    num_joints: int
    symmetry: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))


def load_h36m_2d(path: str | os.PathLike) -> H36MKeypoints2D:
    """VideoPose3D ``data_2d_h36m_*.npz`` → `H36MKeypoints2D` (a confidence channel, if any, is dropped)."""
    tree, arrays = _load_dict(path, "positions_2d")
    metadata = arrays.get("metadata")
    metadata = metadata.item() if metadata is not None and metadata.dtype == object else None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: expected a 'metadata' dict (layout_name, num_joints, keypoints_symmetry)")
    num_joints = int(metadata.get("num_joints", NUM_JOINTS))
    symmetry = metadata.get("keypoints_symmetry", ([], []))
    positions: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject in sorted(tree):
        positions[str(subject)] = {}
        for action in sorted(tree[subject]):
            cams = []
            for cam_index, kp in enumerate(tree[subject][action]):
                kp = np.asarray(kp, dtype=np.float32)
                if kp.ndim != 3 or kp.shape[1] != num_joints or kp.shape[2] < 2:
                    raise ValueError(f"{path}: {subject}/{action} camera {cam_index} must be (N, {num_joints}, 2), "
                                     f"got {kp.shape}")
                cams.append(kp[..., :2].copy())
            positions[str(subject)][str(action)] = cams
    return H36MKeypoints2D(positions, str(metadata.get("layout_name", "")), num_joints,
                           (list(map(int, symmetry[0])), list(map(int, symmetry[1]))))
