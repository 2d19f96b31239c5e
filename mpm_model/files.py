"""The one I/O layer for files that must never be seen half-written: checkpoints, shipped weights, training packs,
campaign state, ONNX exports and TensorRT engines all go through it (it sits below export and the backends).

- **Atomic writes**: a file is written to a temporary name in the same directory, flushed to disk (fsync) and
  `os.replace`d onto its final name; a reader sees the old file, or the new one complete, never half. Where a
  sidecar vouches for a file, the caller writes the sidecar last.
- **One filler per cache entry**: several nodes on a robot share one cache directory and start together.
  `fill_once` checks the entry, and only when it is missing or stale takes an exclusive lock (`<file>.lock`,
  `fcntl.flock`) and checks again, so the processes that waited reuse the file the first one made instead of
  making it again. A holder that dies releases its lock with its process (the kernel drops the flock), so a dead
  pid never blocks anyone; a holder that is alive but holds the lock longer than `stale_s` (hung) is passed over:
  the waiter logs it and fills the entry itself (atomic writes keep that safe, it only costs the work twice).
  Lock files stay in the directory (a few bytes each; unlinking them would race).
- **Whole-file sha256** and **the engine directory** every cache user shares. Torch-free.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOG = logging.getLogger(__name__)
STALE_S = 1800.0  # a live lock older than this is taken for a hung holder (TensorRT builds on Jetson take minutes)
POLL_S = 0.2
_TEMP_PID = re.compile(r"\.(\d+)-[0-9a-f]{8}\.tmp$")  # the writer's pid in a _temp_name


def default_engine_dir() -> Path:
    """$ROS_HOME/mpm_ros/engines (ROS_HOME defaulting to ~/.ros), read at call time: one cache for the node and the
    CLIs, so an export or engine built by hand is the one the node reuses."""
    ros_home = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")
    return Path(ros_home) / "mpm_ros" / "engines"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_name(path: Path) -> Path:
    """A temporary name beside `path` (same directory, so os.replace is atomic), unique per process and call."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_dead_temps(path: Path) -> int:
    """Delete temporary files of `path` (and of its sidecars, `path`.*) left by processes that died mid-write;
    returns how many."""
    removed = 0
    for temp in path.parent.glob(f".{path.name}*.tmp"):
        match = _TEMP_PID.search(temp.name)
        if match and not _pid_alive(int(match.group(1))):
            temp.unlink(missing_ok=True)
            removed += 1
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path to write (by any writer: torch.save, zipfile, an exporter); on success it is flushed
    to disk and replaces `path` atomically, on an exception it is removed and `path` stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(path)
    try:
        yield temp
        _fsync(temp)  # the data is on disk before the name points at it (a power cut leaves old or new, not empty)
        os.replace(temp, path)
        with contextlib.suppress(OSError):  # the rename itself; some file systems refuse fsync on a directory
            _fsync(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temp:
        temp.write_text(text)


def lock_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".lock")


@contextlib.contextmanager
def cache_lock(path: str | os.PathLike, stale_s: float = STALE_S, poll_s: float = POLL_S) -> Iterator[bool]:
    """Exclusive lock on the cache entry `path`; yields True when held, False when a live holder older than stale_s
    was passed over. The lock file records the holder's pid; its mtime is when the holder took it."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    held, announced, old_polls = False, False, 0
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                holder, age = _holder(fd)
                # old twice in a row: a holder that has only just taken an old lock file has not stamped it yet
                old_polls = old_polls + 1 if age > stale_s else 0
                if old_polls >= 2:
                    LOG.warning("cache lock %s held by pid %s for %.0f s (> %.0f s, hung?): going ahead without it",
                                lock, holder, age, stale_s)
                    break
                if not announced:
                    LOG.info("waiting for pid %s, which is writing %s (for %.0f s)", holder, Path(path).name, age)
                    announced = True
                time.sleep(poll_s)
        if held:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # also sets the mtime waiters read as the lock's age
            remove_dead_temps(Path(path))
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _holder(fd: int) -> tuple[str, float]:
    """(pid written by the holder or '?', seconds since it took the lock)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text or "?", time.time() - os.fstat(fd).st_mtime


def fill_once(path: str | os.PathLike, problem: Callable[[], str | None], fill: Callable[[str], None],
              stale_s: float = STALE_S) -> bool:
    """Make the cache entry `path` unless it is usable; returns True when this process filled it.

    problem(): None when the entry is usable, else why not (checked without the lock, then again under it, so a
    process that waited reuses what the holder wrote); fill(why): writes the entry (atomically).
    """
    if problem() is None:
        return False
    with cache_lock(path, stale_s=stale_s):
        again = problem()
        if again is None:
            LOG.info("reusing %s, written by another process while this one waited", Path(path).name)
            return False
        fill(again)
        return True
