"""ONNX Runtime backend. ORT silently falls back to CPU when a provider fails to load, so the providers in use
are checked against those requested and a mismatch is an error, not a surprise in the latency numbers.

Thread-pool spinning is off by default: spinning ORT workers busy-wait between calls and fight the ROS executor
for the cores (on the 2-core machine batch-10 latency went 112 -> 50 ms under load with spinning off)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model.deploy.backends.base import Backend
from mpm_model.config import ModelConfig

LOG = logging.getLogger(__name__)
SPINNING_KEYS = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeError(f"ONNX Runtime backend needs the `onnxruntime` package: {exc}") from exc
    return onnxruntime


def providers_for_device(device: str) -> list[Any]:
    """'cpu' -> CPU EP; 'cuda' / 'cuda:N' -> CUDA EP on GPU N with CPU as the (always present) second provider."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:"):
        index = device.partition(":")[2] or "0"
        if not index.isdigit():
            raise ValueError(f"device must be 'cuda' or 'cuda:N', got {device!r}")
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    raise ValueError(f"ONNX Runtime device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def ort_cuda_available() -> bool:
    """True if this onnxruntime build has the CUDA execution provider (onnxruntime-gpu)."""
    try:
        return "CUDAExecutionProvider" in _import_onnxruntime().get_available_providers()
    except RuntimeError:
        return False


def session_options(threads: int | None = None, spinning: bool = False) -> Any:
    """ORT SessionOptions: `threads` intra-op threads (0/None = ORT's default, one per physical core) and thread-pool
    spinning on or off for both the intra- and inter-op pools."""
    if threads is not None and threads < 0:
        raise ValueError(f"threads must be >= 0 (0 = ONNX Runtime's default), got {threads}")
    options = _import_onnxruntime().SessionOptions()
    options.intra_op_num_threads = int(threads or 0)
    for key in SPINNING_KEYS:
        options.add_session_config_entry(key, "1" if spinning else "0")
    return options


class OnnxRuntimeBackend(Backend):
    """Runs the exported `pose3d` graph; the ONNX sidecar supplies (and checks) the ModelConfig."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None,
                 max_batch: int | None = None, expected_config: ModelConfig | None = None,
                 spinning: bool = False) -> None:
        from mpm_model.deploy.export import read_onnx_sidecar

        ort = _import_onnxruntime()
        config, sidecar = read_onnx_sidecar(onnx_path)
        if expected_config is not None and config != expected_config:
            raise ValueError(f"{onnx_path} was exported for another ModelConfig: {config.diff(expected_config)}")
        providers = providers_for_device(device)
        names = [p[0] if isinstance(p, tuple) else p for p in providers]
        missing = [n for n in names if n not in ort.get_available_providers()]
        if missing:
            raise RuntimeError(f"ONNX Runtime {ort.__version__} lacks {missing} (available: "
                               f"{ort.get_available_providers()}); install onnxruntime-gpu for CUDA")
        self.session = ort.InferenceSession(str(onnx_path), sess_options=session_options(threads, spinning),
                                            providers=providers)
        in_use = self.session.get_providers()
        if in_use != names:
            raise RuntimeError(f"ONNX Runtime is using providers {in_use}, not the requested {names} (a provider "
                               "failed to initialise and ORT fell back; check CUDA/cuDNN libraries)")
        graph_inputs = [i.name for i in self.session.get_inputs()]
        graph_outputs = [o.name for o in self.session.get_outputs()]
        if graph_inputs != ["keypoints2d", "mask"] or graph_outputs != ["pose3d"]:
            raise RuntimeError(f"{onnx_path} has inputs {graph_inputs} / outputs {graph_outputs}, expected "
                               "['keypoints2d', 'mask'] / ['pose3d']")
        export_max = int(sidecar["batch_max"])
        if max_batch is not None and max_batch > export_max:
            raise ValueError(f"max_batch={max_batch} exceeds the exported batch range 1..{export_max}")
        super().__init__(config, device, max_batch or export_max)
        self.providers = in_use
        self.onnx_path = Path(onnx_path)

    def _infer_batch(self, keypoints2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (pose3d,) = self.session.run(["pose3d"], {"keypoints2d": keypoints2d, "mask": mask})
        return pose3d  # (b, 1, J, 3)
