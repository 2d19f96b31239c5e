"""Backend: the one inference interface shared by torch, ONNX Runtime and TensorRT (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import abc

import numpy as np

from mpm_model.config import ModelConfig


class Backend(abc.ABC):
    """Lifts windows of 2D keypoints to the 3D pose of frame `config.target_index`.

    Subclasses implement `_infer_batch` for at most `max_batch` windows of already validated input; `infer`
    owns validation, NaN handling and chunking so every backend rejects bad input the same way.
    """

    name: str = "backend"

    def __init__(self, config: ModelConfig, device: str, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.config = config
        self.device = device
        self.max_batch = int(max_batch)
        self.selection_reason = f"{self.name} backend requested explicitly"
        self.fallback_reason: str | None = None  # set when a better backend failed (create_backend's auto)

    def infer(self, keypoints2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B,T,J,2) float + (B,T,J) bool (True = masked) -> (B,1,J,3) float32; B > max_batch runs in chunks."""
        keypoints2d, mask = self.validate_inputs(keypoints2d, mask)
        batch = keypoints2d.shape[0]
        outputs = [
            self._checked_output(self._infer_batch(keypoints2d[start:start + self.max_batch],
                                                   mask[start:start + self.max_batch]),
                                 min(self.max_batch, batch - start))
            for start in range(0, batch, self.max_batch)
        ]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=0)

    def validate_inputs(self, keypoints2d: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Check shapes/dtypes against the config; zero non-finite values under the mask, reject them elsewhere."""
        if not isinstance(keypoints2d, np.ndarray) or not isinstance(mask, np.ndarray):
            raise TypeError(f"keypoints2d and mask must be numpy arrays, got {type(keypoints2d).__name__} "
                            f"and {type(mask).__name__}")
        window, joints = self.config.window, self.config.num_joints
        if keypoints2d.ndim != 4 or keypoints2d.shape[1:] != (window, joints, 2) or keypoints2d.shape[0] < 1:
            raise ValueError(f"keypoints2d must have shape (B>=1, {window}, {joints}, 2), got {keypoints2d.shape}")
        if mask.shape != keypoints2d.shape[:3]:
            raise ValueError(f"mask must have shape {keypoints2d.shape[:3]} (B, T, J), got {mask.shape}")
        if not np.issubdtype(keypoints2d.dtype, np.floating):
            raise ValueError(f"keypoints2d must be a float array (float32 preferred), got dtype {keypoints2d.dtype}")
        if mask.dtype != np.bool_:
            raise ValueError(f"mask must be a bool array (True = masked), got dtype {mask.dtype}")
        keypoints2d = np.ascontiguousarray(keypoints2d, dtype=np.float32)
        mask = np.ascontiguousarray(mask)
        non_finite = ~np.isfinite(keypoints2d).all(axis=-1)  # (B, T, J)
        if non_finite.any():
            visible_bad = non_finite & ~mask
            if visible_bad.any():
                raise ValueError(f"keypoints2d has {int(visible_bad.sum())} unmasked joint(s) with NaN/inf; "
                                 "mask them (mask=True) or fix the input")
            keypoints2d = np.where(non_finite[..., None], np.float32(0.0), keypoints2d)
        return keypoints2d, mask

    def _checked_output(self, pose3d: np.ndarray, batch: int) -> np.ndarray:
        expected = (batch, 1, self.config.num_joints, 3)
        if pose3d.shape != expected:
            raise RuntimeError(f"{self.name} backend returned shape {pose3d.shape}, expected {expected}")
        return np.asarray(pose3d, dtype=np.float32)

    @abc.abstractmethod
    def _infer_batch(self, keypoints2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(b<=max_batch,T,J,2) float32 contiguous + (b,T,J) bool -> (b,1,J,3)."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(device={self.device!r}, max_batch={self.max_batch}, "
                f"window={self.config.window}, causal={self.config.causal})")
