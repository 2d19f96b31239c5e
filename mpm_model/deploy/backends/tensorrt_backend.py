"""TensorRT 10 backend: builds (or reuses a cached) engine from the exported ONNX and runs it on torch CUDA buffers.

Written against the TensorRT 10 Python API (JetPack 6 ships 10.3): name-based I/O (`set_input_shape`,
`set_tensor_address`, `execute_async_v3`), one optimisation profile over the batch dimension, and FP16 with
normalisation/softmax/reduction layers pinned to FP32 so LayerNorm statistics do not overflow.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from mpm_model.deploy.backends.base import Backend
from mpm_model.deploy.backends.engine_cache import EngineIngredients, cached_engine
from mpm_model.config import ModelConfig
from mpm_model.files import default_engine_dir, file_sha256

LOG = logging.getLogger(__name__)
INPUT_NAMES = ("keypoints2d", "mask")
OUTPUT_NAME = "pose3d"


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeError("TensorRT backend needs the `tensorrt` Python package (TensorRT 10; on Jetson it comes "
                           f"with JetPack 6): {exc}") from exc
    if int(tensorrt.__version__.split(".")[0]) < 10:
        raise RuntimeError(f"TensorRT >= 10 required (name-based I/O API), found {tensorrt.__version__}")
    return tensorrt


def _cuda_device(device: str) -> Any:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("TensorRT backend needs a CUDA-enabled torch build and a visible GPU for its device "
                           f"buffers; torch {torch.__version__} reports no CUDA device")
    torch_device = torch.device(device if device.startswith("cuda") else "cuda")
    if torch_device.index is None:
        torch_device = torch.device("cuda", torch.cuda.current_device())
    return torch_device


def check_tensorrt_ready(device: str = "cuda") -> None:
    """Raise RuntimeError unless TensorRT >= 10 imports and torch sees the CUDA device (before any slow export)."""
    _import_tensorrt()
    _cuda_device(device)


def _progress_monitor(trt: Any) -> Any:
    """An IProgressMonitor that logs builder phases (engine builds take minutes on Jetson)."""

    class LogProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._started: dict[str, float] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._started[phase_name] = time.perf_counter()
            indent = "  " if parent_phase else ""
            LOG.info("TensorRT build: %s%s (%d steps)", indent, phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True

        def phase_finish(self, phase_name: str) -> None:
            elapsed = time.perf_counter() - self._started.pop(phase_name, time.perf_counter())
            LOG.info("TensorRT build: %s done in %.1f s", phase_name, elapsed)

    return LogProgress()


def _pin_fp32_layers(trt: Any, network: Any) -> int:
    """Keep normalisation, softmax and reductions in FP32 under FP16 builds; returns the number of pinned layers."""
    keep = {trt.LayerType.NORMALIZATION, trt.LayerType.SOFTMAX, trt.LayerType.REDUCE}
    floats = {trt.float32, trt.float16}
    pinned = 0
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type not in keep:
            continue
        layer.precision = trt.float32
        for out in range(layer.num_outputs):
            if layer.get_output(out).dtype in floats:
                layer.set_output_type(out, trt.float32)
        pinned += 1
    return pinned


def build_serialized_engine(onnx_path: Path, config: ModelConfig, ingredients: EngineIngredients,
                            workspace_mb: int = 1024) -> bytes:
    """Parse the ONNX and build a serialised engine with one batch profile min/opt/max."""
    trt = _import_tensorrt()
    if ingredients.precision == "fp16" and not hasattr(trt.BuilderFlag, "FP16"):
        raise RuntimeError(f"TensorRT {trt.__version__} has no weakly typed FP16 builds (removed in 11.x); build an "
                           "fp32 engine, or use TensorRT 10 (JetPack 6) for --fp16")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")

    build_config = builder.create_builder_config()
    build_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    monitor = _progress_monitor(trt) if hasattr(trt, "IProgressMonitor") else None  # must outlive the build
    if monitor is not None:
        build_config.progress_monitor = monitor
    profile = builder.create_optimization_profile()
    window, joints = config.window, config.num_joints
    batches = (ingredients.min_batch, ingredients.opt_batch, ingredients.max_batch)
    profile.set_shape("keypoints2d", *[(b, window, joints, 2) for b in batches])
    profile.set_shape("mask", *[(b, window, joints) for b in batches])
    build_config.add_optimization_profile(profile)
    if ingredients.precision == "fp16":
        if not getattr(builder, "platform_has_fast_fp16", True):  # deprecated in later TensorRT 10 releases
            LOG.warning("this GPU has no fast FP16; the FP16 engine may be slower than FP32")
        build_config.set_flag(trt.BuilderFlag.FP16)
        build_config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        LOG.info("FP16 build: %d normalisation/softmax/reduce layers kept in FP32", _pin_fp32_layers(trt, network))

    LOG.info("building TensorRT engine from %s (%s, batch %d/%d/%d); this can take minutes", onnx_path,
             ingredients.precision, *batches)
    serialized = builder.build_serialized_network(network, build_config)
    if serialized is None:
        raise RuntimeError(f"TensorRT engine build failed for {onnx_path} (see the TensorRT log above)")
    return bytes(serialized)


def current_ingredients(onnx_path: Path, precision: str, max_batch: int, opt_batch: int) -> EngineIngredients:
    """Cache-key ingredients for this ONNX on this machine's TensorRT and GPU 0."""
    import torch

    trt = _import_tensorrt()
    device = _cuda_device("cuda")
    major, minor = torch.cuda.get_device_capability(device)
    return EngineIngredients(onnx_sha256=file_sha256(onnx_path), precision=precision, min_batch=1,
                             opt_batch=min(opt_batch, max_batch), max_batch=max_batch,
                             tensorrt_version=trt.__version__, gpu_name=torch.cuda.get_device_name(device),
                             compute_capability=f"{major}.{minor}")


def ensure_engine(onnx_path: str | Path, engine_dir: str | Path | None = None, precision: str = "fp32",
                  max_batch: int = 16, opt_batch: int = 1, force_rebuild: bool = False,
                  workspace_mb: int = 1024) -> tuple[Path, ModelConfig, bool]:
    """(engine path, config, rebuilt?): reuse the cached engine if its sidecar matches, else build and cache it
    (in engine_dir, default default_engine_dir(); engine_cache.cached_engine: atomic, built once when several
    processes start together)."""
    from mpm_model.deploy.export import read_onnx_sidecar

    onnx_path = Path(onnx_path)
    config, sidecar = read_onnx_sidecar(onnx_path)
    if max_batch > sidecar["batch_max"]:
        raise ValueError(f"max_batch={max_batch} exceeds the ONNX export's batch range 1..{sidecar['batch_max']}")
    ingredients = current_ingredients(onnx_path, precision, max_batch, opt_batch)
    engine_path, rebuild = cached_engine(engine_dir or default_engine_dir(), onnx_path, ingredients, config,
                                         lambda: build_serialized_engine(onnx_path, config, ingredients, workspace_mb),
                                         force_rebuild)
    return engine_path, config, rebuild


class TensorRTBackend(Backend):
    """Deserialises an engine and runs it with torch CUDA tensors as device buffers."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, config: ModelConfig, device: str = "cuda",
                 precision: str = "fp32") -> None:
        trt = _import_tensorrt()
        import torch

        self._torch = torch
        self._device = _cuda_device(device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self._device):
            self._engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
            if self._engine is None:
                raise RuntimeError(f"TensorRT could not deserialise {engine_path} (built for another TensorRT/GPU?)")
            self._context = self._engine.create_execution_context()
        names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        if names != {*INPUT_NAMES, OUTPUT_NAME}:
            raise RuntimeError(f"engine I/O tensors {sorted(names)} != expected {sorted({*INPUT_NAMES, OUTPUT_NAME})}")
        dtypes = {name: self._engine.get_tensor_dtype(name) for name in names}
        expected = {"keypoints2d": trt.float32, "mask": trt.bool, OUTPUT_NAME: trt.float32}
        if dtypes != expected:
            raise RuntimeError(f"engine I/O dtypes {dtypes} != expected {expected}")
        max_shape = tuple(self._engine.get_tensor_profile_shape("keypoints2d", 0)[2])
        if max_shape[1:] != (config.window, config.num_joints, 2):
            raise RuntimeError(f"engine input shape {max_shape} does not fit the config's window {config.window} "
                               f"and {config.num_joints} joints")
        super().__init__(config, str(self._device), int(max_shape[0]))
        self.precision = precision
        self.engine_path = Path(engine_path)
        self._stream = torch.cuda.Stream(device=self._device)

    @classmethod
    def from_onnx(cls, onnx_path: str | Path, engine_dir: str | Path | None = None, precision: str = "fp32",
                  max_batch: int = 16, opt_batch: int = 1, force_rebuild: bool = False,
                  device: str = "cuda") -> "TensorRTBackend":
        engine_path, config, _ = ensure_engine(onnx_path, engine_dir, precision, max_batch, opt_batch, force_rebuild)
        return cls(engine_path, config, device, precision)

    def _infer_batch(self, keypoints2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            inputs = {"keypoints2d": torch.from_numpy(keypoints2d).to(self._device, non_blocking=True),  # (b,T,J,2)
                      "mask": torch.from_numpy(mask).to(self._device, non_blocking=True)}  # (b,T,J) bool
            for name, tensor in inputs.items():
                if not self._context.set_input_shape(name, tuple(tensor.shape)):
                    raise ValueError(f"TensorRT rejected input shape {tuple(tensor.shape)} for {name}")
                self._context.set_tensor_address(name, tensor.data_ptr())
            output = torch.empty(tuple(self._context.get_tensor_shape(OUTPUT_NAME)), dtype=torch.float32,
                                 device=self._device)  # (b, 1, J, 3)
            self._context.set_tensor_address(OUTPUT_NAME, output.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            result = output.cpu()  # waits on self._stream
        return result.numpy()
