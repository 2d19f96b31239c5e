"""create_backend: one entry point that picks (or honours) a backend and says why.

`auto` prefers TensorRT (tensorrt importable + CUDA GPU), then ONNX Runtime on CUDA, then ONNX Runtime on CPU,
then plain torch. Without an explicit ONNX file the checkpoint is exported once to a cached ONNX in engine_dir.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

import torch

from mpm_model.deploy.backends.base import Backend
from mpm_model.deploy.backends.gpu_probe import probe_gpu, tensorrt_installed
from mpm_model.config import ModelConfig

LOG = logging.getLogger(__name__)
BACKEND_NAMES = ("auto", "torch", "onnxruntime", "tensorrt")


def model_fingerprint(model: torch.nn.Module, config: ModelConfig) -> str:
    """sha256 over the config and every weight: names the cached ONNX so new weights never reuse a stale export."""
    digest = hashlib.sha256(repr(sorted(config.to_dict().items())).encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_onnx(checkpoint: str | Path, engine_dir: str | Path, batch_max: int) -> Path:
    """Export the checkpoint to `<engine_dir>/<stem>-<fingerprint16>-b<batch_max>.onnx` unless that file is current."""
    from mpm_model.deploy.backends.torch_backend import load_lifter
    from mpm_model.deploy.export import export_onnx, read_onnx_sidecar

    model, config = load_lifter(checkpoint)
    fingerprint = model_fingerprint(model, config)[:16]
    onnx_path = Path(engine_dir) / f"{Path(str(checkpoint)).stem}-{fingerprint}-b{batch_max}.onnx"
    try:
        cached_config, _ = read_onnx_sidecar(onnx_path)
        if cached_config == config:
            LOG.info("reusing exported %s", onnx_path)
            return onnx_path
    except (OSError, ValueError, KeyError) as exc:
        LOG.info("exporting %s to %s (%s)", checkpoint, onnx_path, exc)
    export_onnx(model, config, onnx_path, batch_max=batch_max)
    return onnx_path


def _onnx_for(checkpoint: str | Path | None, onnx: str | Path | None, engine_dir: str | Path, batch_max: int) -> Path:
    if onnx is not None:
        return Path(onnx)
    if checkpoint is None:
        raise ValueError("give onnx= (an exported .onnx) or checkpoint= (to export one)")
    return cached_onnx(checkpoint, engine_dir, batch_max)


def _torch(checkpoint: str | Path | None, device: str | None, precision: str, max_batch: int | None) -> Backend:
    from mpm_model.deploy.backends.torch_backend import TorchBackend

    if checkpoint is None:
        raise ValueError("the torch backend needs checkpoint= (a .pt path or a shipped checkpoint name)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return TorchBackend.from_checkpoint(checkpoint, device=device, precision=precision, max_batch=max_batch or 64)


def _onnxruntime(onnx_path: Path, device: str | None, precision: str, max_batch: int | None,
                 threads: int | None) -> Backend:
    from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend, ort_cuda_available

    if precision != "fp32":
        raise ValueError(f"the onnxruntime backend runs the fp32 ONNX export only, got precision={precision!r}")
    device = device or ("cuda" if ort_cuda_available() and probe_gpu().available else "cpu")
    return OnnxRuntimeBackend(onnx_path, device=device, threads=threads, max_batch=max_batch)


def _tensorrt(onnx_path: Path, device: str | None, precision: str, max_batch: int | None, engine_dir: str | Path,
              opt_batch: int, force_rebuild: bool) -> Backend:
    from mpm_model.deploy.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend.from_onnx(onnx_path, engine_dir=engine_dir, precision=precision,
                                     max_batch=max_batch or 16, opt_batch=opt_batch, force_rebuild=force_rebuild,
                                     device=device or "cuda")


def create_backend(name: str = "auto", checkpoint: str | Path | None = None, onnx: str | Path | None = None,
                   device: str | None = None, precision: str = "fp32", engine_dir: str | Path = "trt_engines",
                   max_batch: int | None = None, threads: int | None = None, opt_batch: int = 1,
                   force_rebuild: bool = False, export_batch_max: int = 64) -> Backend:
    """Build the named backend (or the best available for `auto`); `backend.selection_reason` says why."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    if name == "torch":
        backend = _torch(checkpoint, device, precision, max_batch)
    elif name == "onnxruntime":
        if precision != "fp32":  # checked before a possibly slow export
            raise ValueError(f"the onnxruntime backend runs the fp32 ONNX export only, got precision={precision!r}")
        backend = _onnxruntime(_onnx_for(checkpoint, onnx, engine_dir, export_batch_max), device, precision,
                               max_batch, threads)
    elif name == "tensorrt":
        from mpm_model.deploy.backends.tensorrt_backend import check_tensorrt_ready

        check_tensorrt_ready(device or "cuda")
        backend = _tensorrt(_onnx_for(checkpoint, onnx, engine_dir, export_batch_max), device, precision, max_batch,
                            engine_dir, opt_batch, force_rebuild)
    else:
        return _auto(checkpoint, onnx, device, precision, engine_dir, max_batch, threads, opt_batch, force_rebuild,
                     export_batch_max)
    LOG.info("backend %s on %s: %s", backend.name, backend.device, backend.selection_reason)
    return backend


def _auto(checkpoint: str | Path | None, onnx: str | Path | None, device: str | None, precision: str,
          engine_dir: str | Path, max_batch: int | None, threads: int | None, opt_batch: int, force_rebuild: bool,
          export_batch_max: int) -> Backend:
    """Try TensorRT, ONNX Runtime (CUDA, then CPU), torch; each skip or failure is part of the reason."""
    gpu = probe_gpu()
    notes: list[str] = []
    if not tensorrt_installed():
        notes.append("tensorrt is not installed")
    elif not (gpu.available and gpu.torch_cuda):
        notes.append(f"tensorrt is installed but unusable: {gpu.reason}")
    elif device is not None and not device.startswith("cuda"):
        notes.append(f"tensorrt skipped: device {device} requested")
    else:
        try:
            backend = _tensorrt(_onnx_for(checkpoint, onnx, engine_dir, export_batch_max), device, precision,
                                max_batch, engine_dir, opt_batch, force_rebuild)
            version = f" {gpu.tensorrt_version}" if gpu.tensorrt_version else ""
            return _chosen(backend, f"tensorrt{version} with GPU {gpu.name} (sm {gpu.compute_capability})", notes)
        except Exception as exc:  # auto must still produce a backend; the failure goes into the reason and log
            LOG.warning("auto: TensorRT failed, trying ONNX Runtime: %s", exc)
            notes.append(f"tensorrt failed: {type(exc).__name__}: {exc}")
    if importlib.util.find_spec("onnxruntime") is not None:
        from mpm_model.deploy.backends.onnxruntime_backend import ort_cuda_available

        cuda_ep = ort_cuda_available()
        ort_device = device or ("cuda" if gpu.available and cuda_ep else "cpu")
        if device is not None:
            notes.append(f"device {device} requested")
        elif not gpu.available:
            notes.append(gpu.reason)
        elif not cuda_ep:
            notes.append("onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        if precision != "fp32":
            notes.append(f"onnxruntime runs fp32 (precision {precision} not applied)")
        try:
            backend = _onnxruntime(_onnx_for(checkpoint, onnx, engine_dir, export_batch_max), ort_device, "fp32",
                                   max_batch, threads)
            return _chosen(backend, f"onnxruntime on {ort_device} ({', '.join(backend.providers)})", notes)
        except Exception as exc:
            LOG.warning("auto: ONNX Runtime failed, falling back to torch: %s", exc)
            notes.append(f"onnxruntime failed: {type(exc).__name__}: {exc}")
    else:
        notes.append("onnxruntime is not installed")
    return _chosen(_torch(checkpoint, device, precision, max_batch), "torch (last resort)", notes)


def _chosen(backend: Backend, choice: str, notes: list[str]) -> Backend:
    backend.selection_reason = f"auto chose {choice}" + (f" because {'; '.join(notes)}" if notes else "")
    LOG.info("backend %s on %s: %s", backend.name, backend.device, backend.selection_reason)
    return backend
