"""Training pack: the canonical mocap npz in a few MB, so the training data can travel with the repository.

Positions become integers of UNIT_M (0.5 mm; per coordinate off by at most 0.25 mm, a joint by at most 0.44 mm),
delta-coded along each sequence (first frame int32, then int16 frame-to-frame steps), and the arrays are written
as an npz inside one xz (lzma) stream. `load_mocap` reads a pack like the npz it came from: same keys, shapes and
dtypes; `dataset_hash` of a pack is the hash of that npz (recorded at packing). A step that does not fit int16
(a joint moving more than 16 m between frames) is refused with the sequence and frame, never wrapped.

    python -m mpm_model.data.pack ../shared/data/mocap_h36m17_train.npz travel/mocap_train.pack
"""
from __future__ import annotations

import argparse
import io
import lzma
import os
import time
from pathlib import Path

import numpy as np

from mpm_model.files import atomic_write_bytes, file_sha256

MAGIC = b"\xfd7zXZ\x00"  # xz stream header
FORMAT = "mpm_model.mocap_pack/1"
UNIT_M = 0.0005
POSES = "poses_3d"
INDEX = "sequence_index"
_CODED = ("pack_format", "source_hash", "first", "steps")  # pack-only keys


def is_pack(path: str | os.PathLike) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _starts(index: np.ndarray) -> np.ndarray:
    """First frame of each run of equal sequence ids (S,)."""
    return np.flatnonzero(np.r_[True, index[1:] != index[:-1]])


def encode(arrays: dict[str, np.ndarray], source_hash: str) -> dict[str, np.ndarray]:
    """Canonical npz arrays -> pack arrays (poses replaced by `first` (S, J, 3) int32 and `steps` (N, J, 3) int16)."""
    for key in (POSES, INDEX):
        if key not in arrays:
            raise ValueError(f"pack needs the canonical {key!r} array (mpm_model.data.mocap); keys: {sorted(arrays)}")
    poses, index = np.asarray(arrays[POSES]), np.asarray(arrays[INDEX])
    if poses.ndim != 3 or poses.shape[2] != 3 or index.shape != poses.shape[:1]:
        raise ValueError(f"pack: poses {poses.shape} and sequence_index {index.shape} do not match (N, J, 3), (N,)")
    if not np.isfinite(poses).all():
        raise ValueError(f"pack: {int((~np.isfinite(poses)).sum())} non-finite coordinates cannot be packed")
    units = np.rint(poses.astype(np.float64) / UNIT_M)  # (N, J, 3)
    if np.abs(units).max(initial=0) >= 2**31:
        raise ValueError(f"pack: a coordinate beyond {2**31 * UNIT_M:.0f} m does not fit int32 units")
    starts = _starts(index)
    steps = np.diff(units, axis=0, prepend=units[:1])
    steps[starts] = 0
    too_big = np.abs(steps) > np.iinfo(np.int16).max
    if too_big.any():
        frame = int(np.flatnonzero(too_big.any(axis=(1, 2)))[0])
        raise ValueError(f"pack: frame {frame} (sequence id {int(index[frame])}) moves a joint by "
                         f"{float(np.abs(steps[frame]).max()) * UNIT_M:.1f} m, beyond the int16 step of "
                         f"{np.iinfo(np.int16).max * UNIT_M:.1f} m; not packed")
    rest = {k: np.asarray(v) for k, v in arrays.items() if k != POSES}
    return {**rest, "pack_format": np.array(FORMAT), "source_hash": np.array(source_hash),
            "first": units[starts].astype(np.int32), "steps": steps.astype(np.int16)}


def decode(packed: dict[str, np.ndarray], dtype: np.dtype = np.dtype(np.float32)) -> dict[str, np.ndarray]:
    """Pack arrays -> the canonical npz arrays (positions within 0.44 mm of the original)."""
    if str(packed.get("pack_format")) != FORMAT:
        raise ValueError(f"not a {FORMAT} pack (format {packed.get('pack_format')!r})")
    steps = packed["steps"].astype(np.int64)  # (N, J, 3)
    starts = _starts(packed[INDEX])
    steps[starts] = packed["first"]
    units = np.cumsum(steps, axis=0)
    units -= np.repeat(units[starts] - packed["first"], np.diff(np.r_[starts, len(steps)]), axis=0)  # restart
    arrays = {k: v for k, v in packed.items() if k not in _CODED}
    arrays[POSES] = (units * UNIT_M).astype(dtype)
    return arrays


def file_hash(path: str | os.PathLike) -> str:
    """First 16 hex digits of the sha256 of the file bytes (mocap.dataset_hash of an npz)."""
    return file_sha256(path)[:16]


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def write_pack(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Pack a canonical mocap npz (atomically: files.atomic_write_bytes)."""
    arrays = _read_npz(src)
    packed = encode(arrays, file_hash(src))
    packed["poses_dtype"] = np.array(str(arrays[POSES].dtype))
    buffer = io.BytesIO()
    np.savez(buffer, **packed)
    dst = Path(dst)
    atomic_write_bytes(dst, lzma.compress(buffer.getvalue(), preset=6))
    return dst


def _read_packed(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        raw = lzma.decompress(Path(path).read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (lzma.LZMAError, ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable mocap pack ({exc})") from exc


def read_pack(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The npz arrays a pack was made from (what mocap.load_mocap reads)."""
    packed = _read_packed(path)
    dtype = np.dtype(str(packed.pop("poses_dtype", "float32")))
    try:
        return decode(packed, dtype)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable mocap pack ({exc})") from exc


def source_hash(path: str | os.PathLike) -> str:
    """dataset_hash of the npz the pack was made from."""
    return str(_read_packed(path)["source_hash"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.data.pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="canonical mocap npz")
    parser.add_argument("dst", help="pack to write (e.g. travel/mocap_train.pack; travel/ is ignored by git)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    dst = write_pack(args.src, args.dst)
    packed_s = time.perf_counter() - started
    timings = {}
    arrays = {}
    for label, path, read in (("npz", args.src, _read_npz), ("pack", dst, read_pack)):
        started = time.perf_counter()
        arrays[label] = read(path)
        timings[label] = time.perf_counter() - started
    error = np.abs(arrays["pack"][POSES].astype(np.float64) - arrays["npz"][POSES]).max()
    sequences = np.unique(arrays["npz"][INDEX])
    print(f"{dst}: {dst.stat().st_size / 2**20:.2f} MiB from {Path(args.src).stat().st_size / 2**20:.2f} MiB "
          f"({len(sequences)} sequences), packed in {packed_s:.1f} s; arrays read in {timings['npz']:.2f} s (npz) vs "
          f"{timings['pack']:.2f} s (pack); max coordinate error {error * 1000:.3f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
