"""A learned causal refiner for the root-relative pose (ROS-free, numpy): the newest lifted frame plus a linear
correction from the track's last K lifted frames (K: the weights' history) and, when the weights have `present`
taps, from the last M frames' 2D present: the seen 2D pose, root-relative and scaled to the lifted pose, minus the
lifted x-y (`present_2d`). Fitted (ridge regression) to the truth on the shipped lifter's own outputs over the
train file (tools/train_refiner.py). Causal: only frames already seen are used.

Why: the lifter judges each window alone, so its outputs jitter from frame to frame and trail fast motion by about a
frame; a filter trades one for the other, a regression on the lifter's own errors can reduce both. The 2D of the
newest frame is the present itself, in x and y: the lifted x-y hedges towards the past, the seen 2D does not. It
was trained for ONE lifter file: the weights' sidecar names it by sha256, and `refiner_for` gives it only to that
lifter (else None with the reason: the caller falls back to the One Euro filter and says so). Each shipped lifter
has its own (`refiner_name`). A joint whose 2D disagrees with the lifted pose far beyond the frame's other joints (a
detector outlier) gets no present term that frame, counted (present_2d, gate_limit): bad 2D never moves an output
joint by more than the taps × 0.5 m.
"""
from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mpm_model.streaming.track_states import TrackStates

HISTORY = 32  # lifted frames the shipped refiner looks at (the newest included); a weights file sets its own
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
GAP_FACTOR = 1.5  # a stamp gap above this many frame periods is filled by holding the last frame
# A joint whose 2D present exceeds GATE_SPREAD × its frame's median (at least GATE_FLOOR_M, at most GATE_CEILING_M)
# gets none that frame (present_2d): ~0.1 % of the seen joints of the test caches, at no MPJPE (docs/TEMPORAL.md)
GATE_SPREAD, GATE_FLOOR_M, GATE_CEILING_M = 10.0, 0.15, 0.50


@dataclass(frozen=True)
class RefinerWeights:
    weights: np.ndarray  # (K * J * 3, J * 3) float32
    bias: np.ndarray  # (J * 3,) float32
    lifter: str  # the lifter weights it was trained on (file stem) ...
    lifter_sha256: str  # ... and their sha256
    present: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (M,) present_2d taps, newest 1st

    @property
    def history(self) -> int:
        """K: the lifted frames each output looks at."""
        return self.weights.shape[0] // self.weights.shape[1]


def refine(history: np.ndarray, weights: Mapping[str, Any] | RefinerWeights) -> np.ndarray:
    """(N, K, J, 3) root-relative lifted frames, oldest first → (N, J, 3) refined newest frame."""
    w = weights.weights if isinstance(weights, RefinerWeights) else weights["weights"]
    b = weights.bias if isinstance(weights, RefinerWeights) else weights["bias"]
    n = len(history)
    return history[:, -1] + (history.reshape(n, -1) @ w + b).reshape(history.shape[0], *history.shape[2:])


def present_2d(pixels: np.ndarray, mask: np.ndarray, lifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, 2) pixels (any uniform scale), (N, J) mask (True = masked), (N, J, 3) root-relative lifted joints →
    (N, J, 2) metres: the root-relative 2D scaled onto the lifted x-y, minus the lifted x-y (the weak-perspective
    camera frame: x right, y down), and (N, J) gated. 0 where the joint or the root is masked or not finite, or no
    scale is found. Gated (and 0): a seen joint whose present exceeds `gate_limit` — a detector outlier (another
    person's wrist) would otherwise go straight into the output's x-y. The scale is robust to it: first the median
    of the joints' length ratios, then least squares over the joints within the gate."""
    seen = ~mask & ~mask[:, :1] & np.isfinite(pixels).all(-1) & np.isfinite(pixels[:, :1]).all(-1)  # (N, J)
    rel = np.where(seen[..., None], pixels - np.where(seen[:, :1, None], pixels[:, :1], 0.0), 0.0)  # (N, J, 2)
    with np.errstate(all="ignore"):  # wild pixels overflow: a non-finite present is gated below
        length, reach = np.linalg.norm(rel, axis=-1), np.linalg.norm(lifted[..., :2], axis=-1)  # (N, J)
        ratio = reach / np.where(length > 0, length, 1.0)  # (N, J)
        rough = np.nan_to_num(row_median(ratio, seen & (length > 0) & np.isfinite(ratio)))  # (N,)
        far = np.linalg.norm(rel * rough[:, None, None] - lifted[..., :2], axis=-1)  # (N, J)
        limit = gate_limit(far, seen)[:, None]  # (N, 1)
        gated = seen & ~(far <= limit)
        inside = seen & ~gated
        dot = np.where(inside[..., None], rel * lifted[..., :2], 0.0).sum(axis=(1, 2))  # (N,)
        norm = np.where(inside[..., None], rel * rel, 0.0).sum(axis=(1, 2))
        scale = np.where(norm > 0, dot / np.where(norm > 0, norm, 1.0), 0.0)[:, None, None]
        out = rel * scale - lifted[..., :2]  # (N, J, 2)
        gated |= inside & ~(np.linalg.norm(out, axis=-1) <= limit)
    keep = seen & ~gated & np.isfinite(out).all(-1) & ((norm > 0) & np.isfinite(norm))[:, None]  # no overflow
    return np.where(keep[..., None], out, 0.0), gated


def gate_limit(far: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(N, J) |present| and (N, J) seen → (N,) metres: GATE_SPREAD × the frame's median |present| (fast motion
    makes every joint disagree a little more, an outlier makes one disagree a lot), within [GATE_FLOOR_M,
    GATE_CEILING_M]; the floor when nothing is seen."""
    median = np.nan_to_num(row_median(far, seen & np.isfinite(far)))  # (N,)
    return np.clip(GATE_SPREAD * median, GATE_FLOOR_M, GATE_CEILING_M)


def row_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, J) values, (N, J) valid → (N,) the median of each row's valid values, NaN where none (np.nanmedian is
    slow on small rows: this is the refiner's per-frame cost)."""
    ordered = np.sort(np.where(valid, values, np.inf), axis=1)  # (N, J), the valid ones first
    count = valid.sum(1)  # (N,)
    rows, low, high = np.arange(len(values)), np.maximum(count - 1, 0) // 2, count // 2  # high: 0 when none
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, (ordered[rows, low] + ordered[rows, high]) / 2, np.nan)


def add_present(refined: np.ndarray, present: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """(N, J, 3) refined + the x-y correction of (N, M, J, 2) present_2d histories (newest first) with (M,) taps."""
    out = refined.copy()
    if len(taps):
        out[..., :2] += np.einsum("nmjc,m->njc", present, taps)
    return out


def weight_files(name: str, directory: Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """(weights, sidecar): `<name>.weights.json` and `<name>.json` (lifter, sha256, how). The weights file holds
    either {"taps": K values}, one causal filter shared by every coordinate (a residual on the newest frame;
    optionally {"taps_z": K values}, z's own kernel, x-y keep "taps"), or
    {"weights": (K*C, C), "bias": (C,)}, a full linear map of the history; optionally {"present": M values} (taps on
    present_2d, newest first)."""
    return directory / f"{name}.weights.json", directory / f"{name}.json"


def kernel_parts(coords: int, depth_taps: bool) -> list[np.ndarray]:
    """The coordinates (of C = J * 3, x y z per joint) each shared kernel filters: all, or x-y and z apart."""
    index = np.arange(coords)
    return [index[index % 3 < 2], index[index % 3 == 2]] if depth_taps else [index]


def shared_map(kernels: list[np.ndarray], coords: int) -> np.ndarray:
    """One (K,) causal kernel for every coordinate, or two (x-y, then z: kernel_parts) → the (K * C, C) linear map of
    the history that `refine` applies (the loader and the fit write it alike)."""
    parts = kernel_parts(coords, len(kernels) == 2)
    return sum(np.kron(kernel[:, None], np.diag(np.isin(np.arange(coords), part)).astype(kernel.dtype))
               for kernel, part in zip(kernels, parts))


def load_refiner(name: str, directory: Path = WEIGHTS_DIR) -> RefinerWeights:
    """Raises OSError / KeyError / ValueError when a file is missing or malformed."""
    weights_path, sidecar_path = weight_files(name, directory)
    arrays, sidecar = json.loads(weights_path.read_text()), json.loads(sidecar_path.read_text())
    if "taps" in arrays:
        taps = np.asarray(arrays["taps"], np.float32)  # (K,)
        coords = 3 * int(arrays["joints"])
        if taps.ndim != 1 or not len(taps) or coords <= 0:
            raise ValueError(f"taps {taps.shape} for {coords} coordinates are no causal filter")
        kernels = [taps]
        if "taps_z" in arrays:  # (K,) z's own kernel; x-y keep "taps"
            kernels.append(np.asarray(arrays["taps_z"], np.float32))
            if kernels[1].shape != taps.shape:
                raise ValueError(f"taps_z {kernels[1].shape} do not match taps {taps.shape}")
        weights, bias = shared_map(kernels, coords), np.zeros(coords, np.float32)
    else:
        weights, bias = np.asarray(arrays["weights"], np.float32), np.asarray(arrays["bias"], np.float32)
    if weights.ndim != 2 or bias.shape != weights.shape[1:] or not weights.shape[1] \
            or weights.shape[0] % weights.shape[1] or not weights.shape[0]:
        raise ValueError(f"weights {weights.shape} and bias {bias.shape} are no map of a whole-frame history")
    present = np.asarray(arrays.get("present", []), np.float32)  # (M,)
    if present.ndim != 1 or not np.isfinite(present).all() or weights.shape[1] % 3:
        raise ValueError(f"present taps {present.shape} need one value per frame and joints in 3D")
    return RefinerWeights(weights, bias, str(sidecar["lifter"]), str(sidecar["lifter_sha256"]), present)


def refiner_name(lifter_stem: str) -> str:
    """The refiner's file name for a lifter file: `mpm_t27_causal` → `pose_refiner_t27_causal`."""
    return "pose_refiner_" + lifter_stem.removeprefix("mpm_")


def refiner_for(lifter_sha256: str, directory: Path = WEIGHTS_DIR) -> tuple[RefinerWeights | None, str]:
    """The refiner trained for the lifter whose weights have this sha256 (any `pose_refiner_*` in `directory`
    whose sidecar names that sha256: a lifter file renamed or copied elsewhere still finds its refiner),
    or (None, why not)."""
    trained_for, unreadable = [], []
    for sidecar in sorted(directory.glob("pose_refiner_*.json")):
        if sidecar.name.endswith(".weights.json"):
            continue
        name = sidecar.name.removesuffix(".json")
        try:
            record = json.loads(sidecar.read_text())
            if record["lifter_sha256"] == lifter_sha256:
                return load_refiner(name, directory), ""
            trained_for.append(f"{name} was trained for {record['lifter']}")
        except (OSError, KeyError, ValueError) as exc:
            unreadable.append(f"{name} unreadable ({type(exc).__name__}: {exc})")
    return None, (f"no pose refiner was trained for these lifter weights (sha256 {lifter_sha256[:12]}): "
                  + "; ".join(trained_for + unreadable or ["none in " + str(directory)]))


@dataclass
class _History:
    stamp_ns: int
    lifted: np.ndarray  # (K, J, 3) the last K lifted frames, oldest first
    presents: np.ndarray  # (M, J, 2) the last M frames' 2D present, newest first


class PoseRefiner:
    """Per track: the last K (weights.history) lifted frames (held across a short gap, padded with the first at a
    start); restarted when the track is new, its stamps go back or it was unseen for longer than `reset_after_s`."""

    def __init__(self, weights: RefinerWeights, reset_after_s: float = 1.0) -> None:
        self.weights = weights
        self._tracks: TrackStates[_History] = TrackStates(reset_after_s)
        self._deltas: deque[int] = deque(maxlen=30)  # recent stamp steps of any track: the frame period

    def set_timeout(self, reset_after_s: float) -> None:
        self._tracks.set_timeout(reset_after_s)

    def clear(self) -> None:
        self._tracks.clear()

    def filter(self, stamp_ns: int, track_ids: tuple[int, ...], joints: np.ndarray, pixels: np.ndarray | None = None,
               mask: np.ndarray | None = None, counts: Counter | None = None) -> np.ndarray:
        """(B, J, 3) root-relative lifted joints of one source frame (+ its (B, J, 2) pixels and (B, J) mask, for
        weights with `present` taps; without them the 2D present counts as unknown) → refined (B, J, 3). Joints
        whose present is gated (present_2d) are counted in `counts["refiner.present_gated"]`."""
        size, taps = self.weights.history, len(self.weights.present)
        histories = np.empty((len(track_ids), size, *joints.shape[1:]))
        presents = np.zeros((len(track_ids), taps, joints.shape[1], 2))  # (B, M, J, 2) newest first
        now = np.zeros((len(track_ids), joints.shape[1], 2))  # (B, J, 2)
        if taps and pixels is not None and mask is not None:
            now, gated = present_2d(pixels, mask, joints)
            if counts is not None:
                counts["refiner.present_gated"] += int(gated.sum())
        for b, track in enumerate(track_ids):
            last = self._tracks.continuing(track, stamp_ns)
            if last is None or not np.isfinite(joints[b]).all():
                history, held, before = np.repeat(joints[b][None], size, axis=0), 0, presents[b]
            else:
                step = stamp_ns - last.stamp_ns
                period = float(np.median(self._deltas)) if self._deltas else float(step)
                self._deltas.append(step)
                held = min(int(round(step / period)) - 1, size - 1) if step > GAP_FACTOR * period else 0
                history = np.concatenate([last.lifted, np.repeat(last.lifted[-1:], held, axis=0),
                                          joints[b][None]])[-size:]
                before = last.presents
            # the held frames of a gap saw no 2D: zero, like the frames before a track's start
            presents[b] = np.concatenate([now[b][None], np.zeros((held, *now.shape[1:])), before])[:taps]
            self._tracks[track] = _History(stamp_ns, history, presents[b])
            histories[b] = history
        self._tracks.expire(stamp_ns)
        return add_present(refine(histories, self.weights), presents, self.weights.present)
