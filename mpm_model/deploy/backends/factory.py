"""create_backend: one entry point that picks (or honours) a backend and says why.

`auto` prefers TensorRT (tensorrt importable + CUDA GPU), then ONNX Runtime on CUDA, then ONNX Runtime on CPU,
then plain torch. Without an explicit ONNX file the checkpoint is exported once to a cached ONNX in engine_dir
(`mpm_model.deploy.export.cached_onnx`: keyed on the checkpoint file's sha256, shared safely by processes that
start together); a warm start hashes the file and reads its config, builds no model. When auto had to pass over a
backend that failed, `backend.fallback_reason` says so (the node raises a WARN for it).
"""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch

from mpm_model.deploy.backends.base import Backend
from mpm_model.deploy.backends.gpu_probe import probe_gpu, tensorrt_installed
from mpm_model.deploy.backends.names import precision_problem
from mpm_model.deploy.export import cached_onnx
from mpm_model.files import default_engine_dir

LOG = logging.getLogger(__name__)


class _OnnxSource:
    """The ONNX file of one create_backend call, made at most once: auto's TensorRT -> ONNX Runtime fallback reuses
    the export (or re-raises its failure) instead of exporting again."""

    def __init__(self, checkpoint: str | os.PathLike | None, onnx: str | Path | None, engine_dir: Path,
                 batch_max: int) -> None:
        self._checkpoint, self._engine_dir, self._batch_max = checkpoint, engine_dir, batch_max
        self._path: Path | None = Path(onnx) if onnx is not None else None
        self._error: Exception | None = None

    def path(self) -> Path:
        if self._error is not None:
            raise self._error
        if self._path is None:
            try:
                if self._checkpoint is None:
                    raise ValueError("give onnx= (an exported .onnx) or checkpoint= (to export one)")
                self._path = cached_onnx(self._checkpoint, self._engine_dir, self._batch_max)
            except Exception as exc:  # remembered: the next backend tried must not export again
                self._error = exc
                raise
        return self._path


def _torch(checkpoint: str | os.PathLike | None, device: str | None, precision: str,
           max_batch: int | None) -> Backend:
    from mpm_model.deploy.backends.torch_backend import TorchBackend

    if checkpoint is None:
        raise ValueError("the torch backend needs checkpoint= (a .pt path or a shipped checkpoint name)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return TorchBackend.from_checkpoint(checkpoint, device=device, precision=precision, max_batch=max_batch or 64)


def _onnxruntime(onnx_path: Path, device: str | None, max_batch: int | None, threads: int | None,
                 spinning: bool) -> Backend:
    from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend, ort_cuda_available

    device = device or ("cuda" if ort_cuda_available() and probe_gpu().available else "cpu")
    return OnnxRuntimeBackend(onnx_path, device=device, threads=threads, max_batch=max_batch, spinning=spinning)


def _tensorrt(onnx_path: Path, device: str | None, precision: str, max_batch: int | None, engine_dir: Path,
              opt_batch: int, force_rebuild: bool) -> Backend:
    from mpm_model.deploy.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend.from_onnx(onnx_path, engine_dir=engine_dir, precision=precision,
                                     max_batch=max_batch or 16, opt_batch=opt_batch, force_rebuild=force_rebuild,
                                     device=device or "cuda")


def create_backend(name: str = "auto", *, checkpoint: str | os.PathLike | None = None, onnx: str | Path | None = None,
                   device: str | None = None, precision: str = "fp32", engine_dir: str | Path | None = None,
                   max_batch: int | None = None, threads: int | None = None, spinning: bool = False,
                   opt_batch: int = 1, force_rebuild: bool = False, export_batch_max: int = 64) -> Backend:
    """Build the named backend (or the best available for `auto`); `backend.selection_reason` says why.

    checkpoint: file path or shipped weights name; engine_dir: ONNX/engine cache (default default_engine_dir());
    threads / spinning: ONNX Runtime intra-op threads (None or 0 = ORT's default) and thread-pool spinning.
    """
    problem = precision_problem(name, precision)
    if problem:  # checked before a possibly slow export
        raise ValueError(problem)
    engine_dir = Path(engine_dir) if engine_dir else default_engine_dir()
    source = _OnnxSource(checkpoint, onnx, engine_dir, export_batch_max)
    if name == "torch":
        backend = _torch(checkpoint, device, precision, max_batch)
    elif name == "onnxruntime":
        backend = _onnxruntime(source.path(), device, max_batch, threads, spinning)
    elif name == "tensorrt":
        from mpm_model.deploy.backends.tensorrt_backend import check_tensorrt_ready

        check_tensorrt_ready(device or "cuda")
        backend = _tensorrt(source.path(), device, precision, max_batch, engine_dir, opt_batch, force_rebuild)
    else:
        return _auto(checkpoint, source, device, precision, engine_dir, max_batch, threads, spinning, opt_batch,
                     force_rebuild)
    LOG.info("backend %s on %s: %s", backend.name, backend.device, backend.selection_reason)
    return backend


def _auto(checkpoint: str | os.PathLike | None, source: _OnnxSource, device: str | None, precision: str,
          engine_dir: Path, max_batch: int | None, threads: int | None, spinning: bool, opt_batch: int,
          force_rebuild: bool) -> Backend:
    """Try TensorRT, ONNX Runtime (CUDA, then CPU), torch; each skip or failure is part of the reason, and what
    failed (or is installed but unusable) also goes into `fallback_reason`."""
    gpu = probe_gpu()
    notes: list[str] = []
    failures: list[str] = []
    if not tensorrt_installed():
        notes.append("tensorrt is not installed")
    elif not (gpu.available and gpu.torch_cuda):
        failures.append(f"tensorrt is installed but unusable: {gpu.reason}")
    elif device is not None and not device.startswith("cuda"):
        notes.append(f"tensorrt skipped: device {device} requested")
    else:
        try:
            backend = _tensorrt(source.path(), device, precision, max_batch, engine_dir, opt_batch, force_rebuild)
            version = f" {gpu.tensorrt_version}" if gpu.tensorrt_version else ""
            return _chosen(backend, f"tensorrt{version} with GPU {gpu.name} (sm {gpu.compute_capability})", notes,
                           failures)
        except Exception as exc:  # auto must still produce a backend; the failure goes into the reason and log
            LOG.warning("auto: TensorRT failed, trying ONNX Runtime: %s", exc)
            failures.append(f"tensorrt failed: {type(exc).__name__}: {exc}")
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
            backend = _onnxruntime(source.path(), ort_device, max_batch, threads, spinning)
            return _chosen(backend, f"onnxruntime on {ort_device} ({', '.join(backend.providers)})", notes,
                           failures)
        except Exception as exc:
            LOG.warning("auto: ONNX Runtime failed, falling back to torch: %s", exc)
            failures.append(f"onnxruntime failed: {type(exc).__name__}: {exc}")
    else:
        failures.append("onnxruntime is not installed")
    return _chosen(_torch(checkpoint, device, precision, max_batch), "torch (last resort)", notes, failures)


def _chosen(backend: Backend, choice: str, notes: list[str], failures: list[str]) -> Backend:
    """Record why `backend` was chosen; a fallback (something better failed) is logged as a warning."""
    reasons = notes + failures
    backend.selection_reason = f"auto chose {choice}" + (f" because {'; '.join(reasons)}" if reasons else "")
    if failures:
        backend.fallback_reason = f"fell back to {backend.name}: {'; '.join(failures)}"
        LOG.warning("backend %s on %s: %s", backend.name, backend.device, backend.fallback_reason)
    LOG.info("backend %s on %s: %s", backend.name, backend.device, backend.selection_reason)
    return backend
