"""Shared mocap npz reader/writer (Human3.6M 17-joint skeleton, metres, world frame, z-up).

Canonical format (what `write_mocap` writes and `load_mocap` reads first), one ``.npz`` file:

| key                 | shape / dtype        | meaning                                                      |
| ------------------- | -------------------- | ------------------------------------------------------------ |
| `poses_3d`          | (N, 17, 3) float32   | all frames of all sequences concatenated, metres, z-up world |
| `sequence_index`    | (N,) int32           | sequence id 0..S-1 of each frame; a sequence's frames are in time order |
| `sequence_names`    | (S,) str             | unique sequence names                                        |
| `sequence_subjects` | (S,) str             | performer id (train/val split is by subject)                 |
| `fps`               | scalar or (S,) float | frame rate(s) in Hz                                          |
| `source`            | (S,) str, optional   | capture credit: "bandai-namco-research-motion", "cmu-mocap", ... |

Joint order is Human3.6M-17 (`mpm_model.skeleton`). Strings are stored as numpy unicode arrays so
the file loads without pickle.

`load_mocap` also tolerates common alternatives: pose key `positions_3d` / `joints_3d` / `poses3d`
/ `joints3d` / `keypoints_3d`; a per-sequence object array or a (nested) dict of arrays instead of
one concatenated array; `seq_lengths` / `sequence_lengths` instead of `sequence_index`; 32-joint
Human3.6M poses (reduced to 17); millimetres (detected from the body size); any world up axis
(detected as the dominant axis of the mean head - pelvis vector and rotated to +z).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from mpm_model.skeleton import H36M32_TO_17, NUM_JOINTS, ROOT_JOINT

LOG = logging.getLogger(__name__)

HEAD_JOINT = 10
# The node runs at camera rate (usually 30 Hz), so models train there by default (ModelConfig.fps);
# every sequence is resampled to the model's rate.
DEFAULT_FPS = 30.0

POSE_KEYS = ("poses_3d", "positions_3d", "joints_3d", "poses3d", "joints3d", "keypoints_3d")
NAME_KEYS = ("sequence_names", "seq_names", "names")
SUBJECT_KEYS = ("sequence_subjects", "subjects", "seq_subjects")
INDEX_KEYS = ("sequence_index", "seq_index", "sequence_ids")
LENGTH_KEYS = ("seq_lengths", "sequence_lengths", "lengths")
FPS_KEYS = ("fps", "frame_rate", "framerate")
SOURCE_KEYS = ("source", "sources", "sequence_sources")


@dataclass
class MocapSequence:
    """One motion clip: `poses3d` (N, 17, 3) float32 metres in a z-up world frame."""

    name: str
    subject: str
    fps: float
    poses3d: np.ndarray  # (N, 17, 3)
    source: str = ""

    def __post_init__(self) -> None:
        poses = np.asarray(self.poses3d)
        if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3) or poses.shape[0] < 1:
            raise ValueError(f"sequence {self.name!r}: poses3d must be (N>=1, 17, 3), got {poses.shape}")
        if not float(self.fps) > 0:
            raise ValueError(f"sequence {self.name!r}: fps must be > 0, got {self.fps}")
        self.poses3d = poses.astype(np.float32, copy=False)
        self.fps = float(self.fps)

    def __len__(self) -> int:
        return int(self.poses3d.shape[0])


def _load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an npz (or of the npz a training pack was made from, mpm_model.data.pack); pickle is only
    enabled when the file really holds object arrays."""
    from mpm_model.data.pack import is_pack, read_pack

    if not os.path.isfile(path):
        raise FileNotFoundError(f"mocap file not found: {path}")
    if is_pack(path):
        return read_pack(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise ValueError(f"{path}: not a readable npz file ({err})") from err
    with np.load(path, allow_pickle=True) as npz:
        return {key: npz[key] for key in npz.files}


def _first(arrays: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in arrays:
            return arrays[key]
    return None


def _unwrap(value: Any) -> Any:
    """0-d object arrays (how np.savez stores a dict) → the Python object inside."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        return value.item()
    return value


def _flatten_dict(tree: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Nested dict (e.g. subject → action → array) → [(key path, array)], sorted by key."""
    items: list[tuple[tuple[str, ...], np.ndarray]] = []
    for key in sorted(tree, key=str):
        value = tree[key]
        if isinstance(value, dict):
            items.extend(_flatten_dict(value, prefix + (str(key),)))
        else:
            items.append((prefix + (str(key),), np.asarray(value)))
    return items


def _split_poses(arrays: dict[str, Any], path: str) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    """Find the poses in any supported layout → (per-sequence arrays, names, subjects or None)."""
    poses = _unwrap(_first(arrays, POSE_KEYS))
    if poses is None:
        raise ValueError(
            f"{path}: no pose array found; expected one of {list(POSE_KEYS)}, found keys {sorted(arrays)}"
        )
    names = _first(arrays, NAME_KEYS)
    names = None if names is None else [str(n) for n in np.asarray(names).reshape(-1)]
    if isinstance(poses, dict):
        flat = _flatten_dict(poses)
        chunks = [arr for _, arr in flat]
        subjects = [keys[0] for keys, _ in flat] if all(len(k) > 1 for k, _ in flat) else None
        return chunks, names or ["/".join(keys) for keys, _ in flat], subjects
    poses = np.asarray(poses)
    if poses.dtype == object:
        chunks = [np.asarray(p, dtype=np.float64) for p in poses.reshape(-1)]
        return chunks, names or [f"seq{i:04d}" for i in range(len(chunks))], None
    if poses.ndim != 3:
        raise ValueError(f"{path}: pose array must be (N, J, 3), got shape {poses.shape}")
    index = _first(arrays, INDEX_KEYS)
    lengths = _first(arrays, LENGTH_KEYS)
    if index is not None:
        index = np.asarray(index).reshape(-1)
        if index.shape[0] != poses.shape[0]:
            raise ValueError(f"{path}: sequence_index has {index.shape[0]} entries for {poses.shape[0]} frames")
        ids = np.unique(index)
        if ids.min() < 0 or (names is not None and ids.max() >= len(names)):
            raise ValueError(f"{path}: sequence_index values {ids.min()}..{ids.max()} "
                             f"do not fit {len(names or [])} names")
        count = len(names) if names is not None else int(ids.max()) + 1
        chunks = [poses[index == i] for i in range(count)]
    elif lengths is not None:
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lengths.sum() != poses.shape[0] or (lengths < 0).any():
            raise ValueError(f"{path}: seq_lengths sum to {lengths.sum()} but there are {poses.shape[0]} frames")
        chunks = np.split(poses, np.cumsum(lengths)[:-1])
    else:
        chunks = [poses]
    return chunks, names or [f"seq{i:04d}" for i in range(len(chunks))], None


def _per_sequence(value: Any, count: int, what: str, path: str) -> list | None:
    if value is None:
        return None
    flat = np.asarray(value).reshape(-1)
    if flat.size == 1:
        return [flat[0]] * count
    if flat.size != count:
        raise ValueError(f"{path}: {what} has {flat.size} entries for {count} sequences")
    return list(flat)


def _to_17_joints(poses: np.ndarray, name: str) -> np.ndarray:
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise ValueError(f"sequence {name!r}: poses must be (N, J, 3), got {poses.shape}")
    if poses.shape[1] == 32:

        return poses[:, list(H36M32_TO_17)]
    if poses.shape[1] != NUM_JOINTS:
        raise ValueError(f"sequence {name!r}: expected 17 (or 32) Human3.6M joints, got {poses.shape[1]}")
    return poses


def rotation_to_z_up(up: np.ndarray) -> np.ndarray:
    """Proper rotation (3, 3) taking the unit axis `up` (±x, ±y or ±z) to +z."""
    up = np.asarray(up, dtype=np.float64)
    z = np.array([0.0, 0.0, 1.0])
    cos = float(up @ z)
    if cos > 0.999999:
        return np.eye(3)
    if cos < -0.999999:
        return np.diag([1.0, -1.0, -1.0])
    axis = np.cross(up, z)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + skew + skew @ skew / (1.0 + cos)


def detect_up_axis(poses: np.ndarray) -> np.ndarray:
    """Signed unit axis closest to the mean head - pelvis direction of (..., 17, 3) poses."""
    body = (poses[..., HEAD_JOINT, :] - poses[..., ROOT_JOINT, :]).reshape(-1, 3).mean(axis=0)
    k = int(np.argmax(np.abs(body)))
    axis = np.zeros(3)
    axis[k] = np.sign(body[k]) or 1.0
    return axis


def _finite_runs(poses: np.ndarray) -> list[slice]:
    """Contiguous runs of frames whose coordinates are all finite."""
    good = np.isfinite(poses).all(axis=(1, 2))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(np.int8), [0]])))
    return [slice(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def load_mocap(
    path: str | os.PathLike,
    drop_nonfinite: bool = False,
    default_fps: float | None = None,
) -> list[MocapSequence]:
    """Read a mocap npz (canonical or a tolerated alternative) → sequences in metres, z-up.

    NaN/inf frames raise a ValueError naming the sequence; with `drop_nonfinite=True` they are
    dropped and the sequence is split at them (parts named ``name#k``) so no time jump is hidden.
    A file without an fps key raises unless `default_fps` is given.
    """
    path = os.fspath(path)
    arrays = _load_npz(path)
    chunks, names, subjects = _split_poses(arrays, path)
    count = len(chunks)
    if count == 0:
        raise ValueError(f"{path}: the file holds no sequences")
    if len(names) != count:
        raise ValueError(f"{path}: {len(names)} sequence names for {count} sequences")
    fps_value = _unwrap(_first(arrays, FPS_KEYS))
    if fps_value is None:
        if default_fps is None:
            raise ValueError(f"{path}: no frame rate key (one of {list(FPS_KEYS)}); keys found {sorted(arrays)}; "
                             "pass default_fps to assume one")
        fps_value = default_fps
    fps_list = _per_sequence(fps_value, count, "fps", path)
    subject_list = _per_sequence(_first(arrays, SUBJECT_KEYS), count, "sequence_subjects", path) or subjects
    source_list = _per_sequence(_first(arrays, SOURCE_KEYS), count, "source", path) or [""] * count
    subject_list = subject_list or [name.split("/")[0] for name in names]

    poses_all = [_to_17_joints(np.asarray(chunk, dtype=np.float64), name) for chunk, name in zip(chunks, names)]
    finite = np.concatenate([p[np.isfinite(p).all(axis=(1, 2))] for p in poses_all])
    if finite.shape[0] == 0:
        raise ValueError(f"{path}: no finite frame in any sequence")
    height = float(np.median(np.linalg.norm(finite[:, HEAD_JOINT] - finite[:, ROOT_JOINT], axis=-1)))
    scale = 1e-3 if height > 10.0 else 1.0  # pelvis→head is ~0.7 m; ~700 means millimetres
    if scale != 1.0:
        LOG.info("%s: poses look like millimetres (pelvis-head %.0f); converting to metres", path, height)
    up = detect_up_axis(finite)
    rotation = rotation_to_z_up(up)
    LOG.info("%s: detected up axis %s; rotated to +z", path, up.astype(int).tolist())

    sequences: list[MocapSequence] = []
    for poses, name, subject, fps, source in zip(poses_all, names, subject_list, fps_list, source_list):
        poses = (poses @ rotation.T) * scale
        runs = _finite_runs(poses)
        bad = poses.shape[0] - sum(r.stop - r.start for r in runs)
        if bad and not drop_nonfinite:
            raise ValueError(f"{path}: sequence {name!r} has {bad} frame(s) with NaN/inf coordinates; "
                             "pass drop_nonfinite=True to drop them")
        if bad:
            LOG.warning("%s: sequence %r: dropped %d non-finite frame(s), %d part(s) kept", path, name, bad, len(runs))
        for k, run in enumerate(runs):
            part = name if len(runs) == 1 and not bad else f"{name}#{k}"
            sequences.append(MocapSequence(part, str(subject), float(fps), poses[run], str(source)))
    return sequences


def write_mocap(path: str | os.PathLike, sequences: list[MocapSequence]) -> None:
    """Write sequences in the canonical format (see module docstring)."""
    if not sequences:
        raise ValueError("write_mocap: no sequences to write")
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise ValueError("write_mocap: sequence names must be unique")
    np.savez_compressed(
        path,
        poses_3d=np.concatenate([s.poses3d for s in sequences]).astype(np.float32),
        sequence_index=np.concatenate([np.full(len(s), i, np.int32) for i, s in enumerate(sequences)]),
        sequence_names=np.array(names, dtype=str),
        sequence_subjects=np.array([s.subject for s in sequences], dtype=str),
        fps=np.array([s.fps for s in sequences], dtype=np.float32),
        source=np.array([s.source for s in sequences], dtype=str),
    )


def split_by_subject(
    sequences: list[MocapSequence], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[MocapSequence], list[MocapSequence]]:
    """Hold out whole subjects for validation, so no performer leaks into both sets.

    Stratified by source: each source with two or more subjects holds out its own share, so the
    validation set has every source and can be reported per source. With a single subject overall it
    falls back to holding out whole sequences; with a single sequence it keeps the first
    (1 - val_fraction) of its frames for training and the rest for validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if not sequences:
        raise ValueError("split_by_subject: no sequences")
    rng = np.random.default_rng(seed)
    sources = sorted({s.source for s in sequences})
    val_subjects: set[str] = set()
    for source in sources:
        subjects = sorted({s.subject for s in sequences if s.source == source})
        if len(subjects) > 1:
            count = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
            val_subjects.update(rng.permutation(subjects)[:count].tolist())
    if val_subjects:
        return ([s for s in sequences if s.subject not in val_subjects],
                [s for s in sequences if s.subject in val_subjects])
    if len(sequences) > 1:
        count = min(len(sequences) - 1, max(1, round(val_fraction * len(sequences))))
        val_ids = set(rng.permutation(len(sequences))[:count].tolist())
        return ([s for i, s in enumerate(sequences) if i not in val_ids],
                [s for i, s in enumerate(sequences) if i in val_ids])
    seq = sequences[0]
    if len(seq) < 2:
        raise ValueError(f"split_by_subject: sequence {seq.name!r} has {len(seq)} frame(s), cannot split")
    cut = min(len(seq) - 1, max(1, round(len(seq) * (1.0 - val_fraction))))
    return ([MocapSequence(f"{seq.name}[train]", seq.subject, seq.fps, seq.poses3d[:cut], seq.source)],
            [MocapSequence(f"{seq.name}[val]", seq.subject, seq.fps, seq.poses3d[cut:], seq.source)])


def dataset_hash(path: str | os.PathLike) -> str:
    """First 16 hex digits of the sha256 of the file bytes (recorded in checkpoints); for a training pack, that of
    the npz it was made from (the same data within 0.44 mm), so runs on either record the same data."""
    from mpm_model.data.pack import file_hash, is_pack, source_hash

    if not os.path.isfile(path):
        raise FileNotFoundError(f"dataset file not found: {path}")
    return source_hash(path) if is_pack(path) else file_hash(path)


def resample(seq: MocapSequence, fps: float = DEFAULT_FPS) -> MocapSequence:
    """Linearly interpolate `seq` to `fps` over the same time span (first frame kept)."""
    if not fps > 0:
        raise ValueError(f"resample: fps must be > 0, got {fps}")
    if abs(seq.fps - fps) < 1e-9 or len(seq) == 1:
        return MocapSequence(seq.name, seq.subject, fps, seq.poses3d.copy(), seq.source)
    duration = (len(seq) - 1) / seq.fps
    count = int(np.floor(duration * fps + 1e-6)) + 1
    src = np.arange(len(seq)) / seq.fps
    dst = np.arange(count) / fps
    lo = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, len(seq) - 2)
    w = ((dst - src[lo]) * seq.fps).clip(0.0, 1.0)[:, None, None]
    poses = seq.poses3d[lo] * (1.0 - w) + seq.poses3d[lo + 1] * w
    return MocapSequence(seq.name, seq.subject, fps, poses.astype(np.float32), seq.source)
