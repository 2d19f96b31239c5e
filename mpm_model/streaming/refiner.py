"""A learned causal refiner for the root-relative pose (ROS-free, numpy): the newest lifted frame plus a linear
correction from the track's last K lifted frames (K: the weights' history), fitted (ridge regression) to the
truth on the shipped lifter's own outputs over the train file (tools/train_refiner.py). Causal: only frames
already published are used.

Why: the lifter judges each window alone, so its outputs jitter from frame to frame and trail fast motion by about a
frame; a filter trades one for the other, a regression on the lifter's own errors can reduce both. It was trained
for ONE lifter file: the weights' sidecar names it by sha256, and `refiner_for` gives it only to that lifter
(else None with the reason: the caller falls back to the One Euro filter and says so).
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

HISTORY = 32  # lifted frames the shipped refiner looks at (the newest included); a weights file sets its own
DEFAULT_REFINER = "pose_refiner_t27_causal"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
GAP_FACTOR = 1.5  # a stamp gap above this many frame periods is filled by holding the last frame


@dataclass(frozen=True)
class RefinerWeights:
    weights: np.ndarray  # (K * J * 3, J * 3) float32
    bias: np.ndarray  # (J * 3,) float32
    lifter: str  # the lifter weights it was trained on (file stem) ...
    lifter_sha256: str  # ... and their sha256

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


def weight_files(name: str = DEFAULT_REFINER, directory: Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """(weights, sidecar): `<name>.weights.json` and `<name>.json` (lifter, sha256, how). The weights file holds
    either {"taps": K values}, one causal filter shared by every coordinate (a residual on the newest frame), or
    {"weights": (K*C, C), "bias": (C,)}, a full linear map of the history."""
    return directory / f"{name}.weights.json", directory / f"{name}.json"


def load_refiner(name: str = DEFAULT_REFINER, directory: Path = WEIGHTS_DIR) -> RefinerWeights:
    """Raises OSError / KeyError / ValueError when a file is missing or malformed."""
    weights_path, sidecar_path = weight_files(name, directory)
    arrays, sidecar = json.loads(weights_path.read_text()), json.loads(sidecar_path.read_text())
    if "taps" in arrays:
        taps = np.asarray(arrays["taps"], np.float32)  # (K,)
        coords = 3 * int(arrays["joints"])
        if taps.ndim != 1 or not len(taps) or coords <= 0:
            raise ValueError(f"taps {taps.shape} for {coords} coordinates are no causal filter")
        weights, bias = np.kron(taps[:, None], np.eye(coords, dtype=np.float32)), np.zeros(coords, np.float32)
    else:
        weights, bias = np.asarray(arrays["weights"], np.float32), np.asarray(arrays["bias"], np.float32)
    if weights.ndim != 2 or bias.shape != weights.shape[1:] or not weights.shape[1] \
            or weights.shape[0] % weights.shape[1] or not weights.shape[0]:
        raise ValueError(f"weights {weights.shape} and bias {bias.shape} are no map of a whole-frame history")
    return RefinerWeights(weights, bias, str(sidecar["lifter"]), str(sidecar["lifter_sha256"]))


def refiner_for(lifter_sha256: str, name: str = DEFAULT_REFINER,
                directory: Path = WEIGHTS_DIR) -> tuple[RefinerWeights | None, str]:
    """The refiner trained for the lifter whose weights have this sha256, or (None, why not)."""
    try:
        weights = load_refiner(name, directory)
    except (OSError, KeyError, ValueError) as exc:
        return None, f"pose refiner {name} unreadable ({type(exc).__name__}: {exc})"
    if weights.lifter_sha256 != lifter_sha256:
        return None, (f"pose refiner {name} was trained for {weights.lifter} (sha256 {weights.lifter_sha256[:12]}), "
                      f"not for these lifter weights (sha256 {lifter_sha256[:12]})")
    return weights, ""


class PoseRefiner:
    """Per track: the last K (weights.history) lifted frames (held across a short gap, padded with the first at a
    start); restarted when the track is new, its stamps go back or it was unseen for longer than `reset_after_s`."""

    def __init__(self, weights: RefinerWeights, reset_after_s: float = 1.0) -> None:
        self.weights = weights
        self._tracks: dict[int, tuple[int, np.ndarray]] = {}  # id → (stamp, (K, J, 3))
        self._deltas: deque[int] = deque(maxlen=30)  # recent stamp steps of any track: the frame period
        self.set_timeout(reset_after_s)

    def set_timeout(self, reset_after_s: float) -> None:
        self.reset_after_ns = int(reset_after_s * 1e9)

    def clear(self) -> None:
        self._tracks.clear()

    def filter(self, stamp_ns: int, track_ids: tuple[int, ...], joints: np.ndarray) -> np.ndarray:
        """(B, J, 3) root-relative lifted joints of one source frame → refined (B, J, 3)."""
        size = self.weights.history
        histories = np.empty((len(track_ids), size, *joints.shape[1:]))
        for b, track in enumerate(track_ids):
            last = self._tracks.get(track)
            if last is None or not stamp_ns > last[0] or stamp_ns - last[0] > self.reset_after_ns \
                    or not np.isfinite(joints[b]).all():
                history = np.repeat(joints[b][None], size, axis=0)
            else:
                step = stamp_ns - last[0]
                period = float(np.median(self._deltas)) if self._deltas else float(step)
                self._deltas.append(step)
                held = min(int(round(step / period)) - 1, size - 1) if step > GAP_FACTOR * period else 0
                history = np.concatenate([last[1], np.repeat(last[1][-1:], held, axis=0), joints[b][None]])[-size:]
            self._tracks[track] = (stamp_ns, history)
            histories[b] = history
        for track in [t for t, (s, _) in self._tracks.items() if stamp_ns - s > self.reset_after_ns]:
            del self._tracks[track]
        return refine(histories, self.weights)
