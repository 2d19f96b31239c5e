"""Plain PyTorch backend: the reference the exported backends are checked against, and the last-resort fallback."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpm_model.checkpoint import load_lifter
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.base import Backend
from mpm_model.deploy.backends.names import PRECISIONS, precision_problem

DTYPES = dict(zip(PRECISIONS, (torch.float32, torch.float16, torch.bfloat16)))


class TorchBackend(Backend):
    """Runs MPMLifter in eval mode under torch.inference_mode on cpu or cuda, in fp32, fp16 or bf16.

    The backend owns `model`: it is moved/cast in place (pass a copy to keep an fp32 original).
    """

    name = "torch"

    def __init__(self, model: torch.nn.Module, config: ModelConfig, device: str = "cpu", precision: str = "fp32",
                 max_batch: int = 64) -> None:
        problem = precision_problem(self.name, precision)
        if problem:
            raise ValueError(problem)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but torch {torch.__version__} sees no CUDA device")
        super().__init__(config, device, max_batch)
        self.precision = precision
        self._dtype = DTYPES[precision]
        self._torch_device = torch.device(device)
        self.model = model.to(device=self._torch_device, dtype=self._dtype).eval()

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, **kwargs: Any) -> "TorchBackend":
        """From a checkpoint file or shipped weights name (mpm_model.checkpoint.resolve)."""
        model, config = load_lifter(checkpoint)
        return cls(model, config, **kwargs)

    def _infer_batch(self, keypoints2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            points = torch.from_numpy(keypoints2d).to(self._torch_device, self._dtype)  # (b, T, J, 2)
            masked = torch.from_numpy(mask).to(self._torch_device)  # (b, T, J) bool
            _, target3d = self.model(points, masked)  # (b, 1, J, 3)
            return target3d.float().cpu().numpy()
