"""Reader for the MPI-INF-3DHP npz files used by P-STMO (``data_train_3dhp.npz``, ``data_test_3dhp.npz``).

Structure (key `data`, a dict stored as a 0-d object array):
- train: ``data["S1 Seq1"]`` is a list whose element 0 is a dict camera → dict(`data_3d` (N,17,3),
  `data_2d` (N,17,2)); a bare camera dict is accepted too. 2D images are 2048×2048.
- test: ``data["TS1"]`` … ``data["TS6"]`` = dict(`data_3d`, `data_2d`, `valid` (N,) 0/1, …).
  TS1–TS4 images are 2048×2048, TS5–TS6 (outdoor) 1920×1080.

Units: `data_3d` are camera-frame coordinates (x right, y down, z forward) in millimetres in
P-STMO's files; `units="auto"` converts to metres when the body is > 10 units tall (pelvis→head),
"mm"/"m" force it. `data_2d` are pixels. The files store no frame rate.

Joint order: the 3DHP 17-joint order is head_top, neck, r_shoulder, r_elbow, r_wrist, l_shoulder,
l_elbow, l_wrist, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, pelvis (root, 14), spine, head.
`MPI3DHP_TO_H36M[i]` is the 3DHP index of H36M joint i; clips are returned in H36M-17 order
(H36M "neck/nose" ← 3DHP head, H36M "head" ← 3DHP head_top, H36M "thorax" ← 3DHP neck).
The 16-joint variant some works use is the 17-joint order without `head` (index 16);
it has no H36M "neck/nose" and is rejected here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from mpm_model.skeleton import ROOT_JOINT

MPI3DHP_JOINTS = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                  "left_knee", "left_ankle", "pelvis", "spine", "head")
MPI3DHP_ROOT = 14
MPI3DHP_TO_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
TRAIN_IMAGE_SIZE = (2048, 2048)
TEST_IMAGE_SIZES = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
                    "TS5": (1920, 1080), "TS6": (1920, 1080)}


@dataclass
class Mpi3dhpClip:
    """One camera view of one sequence, in H36M-17 order.

    poses3d (N,17,3) float32 camera-frame metres (absolute, not root-relative);
    keypoints2d (N,17,2) float32 pixels; valid (N,) bool (all True for training clips).
    """

    name: str
    subject: str
    camera: str
    poses3d: np.ndarray
    keypoints2d: np.ndarray
    valid: np.ndarray
    width: int
    height: int


def _reorder(array: np.ndarray, channels: int, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[1] != len(MPI3DHP_JOINTS) or array.shape[2] < channels:
        raise ValueError(f"{what}: expected (N, {len(MPI3DHP_JOINTS)}, {channels}) in 3DHP joint order, "
                         f"got {array.shape}")
    return array[:, list(MPI3DHP_TO_H36M), :channels].copy()


def _scale(poses: np.ndarray, units: str, what: str) -> float:
    if units == "mm":
        return 1e-3
    if units == "m":
        return 1.0
    finite = poses[np.isfinite(poses).all(axis=(1, 2))]
    if finite.shape[0] == 0:
        raise ValueError(f"{what}: no finite 3D frame to infer units from; pass units='mm' or 'm'")
    size = float(np.median(np.linalg.norm(finite[:, 10] - finite[:, ROOT_JOINT], axis=-1)))
    return 1e-3 if size > 10.0 else 1.0


def _clip(name: str, subject: str, camera: str, anim: dict, size: tuple[int, int], units: str) -> Mpi3dhpClip:
    if not isinstance(anim, dict) or "data_3d" not in anim or "data_2d" not in anim:
        keys = sorted(anim) if isinstance(anim, dict) else type(anim).__name__
        raise ValueError(f"3DHP clip {name}: expected a dict with 'data_3d' and 'data_2d', got {keys}")
    poses = _reorder(anim["data_3d"], 3, f"3DHP clip {name} data_3d")
    keypoints = _reorder(anim["data_2d"], 2, f"3DHP clip {name} data_2d")
    if poses.shape[0] != keypoints.shape[0]:
        raise ValueError(f"3DHP clip {name}: {poses.shape[0]} 3D frames but {keypoints.shape[0]} 2D frames")
    valid = np.ones(poses.shape[0], dtype=bool)
    if "valid" in anim:
        valid = np.asarray(anim["valid"]).reshape(-1).astype(bool)
        if valid.shape[0] != poses.shape[0]:
            raise ValueError(f"3DHP clip {name}: 'valid' has {valid.shape[0]} entries for {poses.shape[0]} frames")
    poses *= _scale(poses, units, f"3DHP clip {name}")
    return Mpi3dhpClip(name, subject, camera, poses, keypoints, valid, size[0], size[1])


def load_mpi3dhp(path: str | os.PathLike, units: str = "auto") -> list[Mpi3dhpClip]:
    """Read a P-STMO 3DHP npz (train or test layout, detected from its keys) → clips in H36M order."""
    if units not in ("auto", "mm", "m"):
        raise ValueError(f"units must be 'auto', 'mm' or 'm', got {units!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MPI-INF-3DHP file not found: {path}")
    with np.load(path, allow_pickle=True) as npz:
        if "data" not in npz.files:
            raise ValueError(f"{path}: expected key 'data' (P-STMO 3DHP layout), found keys {sorted(npz.files)}")
        data = npz["data"]
    data = data.item() if data.dtype == object and data.ndim == 0 else data
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: 'data' must be a non-empty dict of sequences")
    clips = []
    for seq in sorted(data, key=str):
        entry = data[seq]
        if str(seq) in TEST_IMAGE_SIZES:
            clips.append(_clip(str(seq), str(seq), "0", entry, TEST_IMAGE_SIZES[str(seq)], units))
            continue
        cameras = entry[0] if isinstance(entry, (list, tuple, np.ndarray)) and len(entry) else entry
        if not isinstance(cameras, dict):
            raise ValueError(f"{path}: sequence {seq!r} must be [camera dict] or a camera dict, "
                             f"got {type(entry).__name__}")
        subject = str(seq).split(" ")[0]
        for cam in sorted(cameras, key=str):
            clips.append(_clip(f"{seq}/cam{cam}", subject, str(cam), cameras[cam], TRAIN_IMAGE_SIZE, units))
    return clips
