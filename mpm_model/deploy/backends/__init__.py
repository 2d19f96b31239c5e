"""Deployment backends sharing one `Backend.infer` interface; heavy runtimes (onnxruntime, tensorrt) load lazily."""
from mpm_model.deploy.backends.base import Backend
from mpm_model.deploy.backends.engine_cache import default_engine_dir
from mpm_model.deploy.backends.factory import BACKEND_NAMES, create_backend
from mpm_model.deploy.backends.gpu_probe import GpuInfo, probe_gpu, tensorrt_installed
from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend
from mpm_model.deploy.backends.tensorrt_backend import TensorRTBackend
from mpm_model.deploy.backends.torch_backend import TorchBackend

__all__ = ["BACKEND_NAMES", "Backend", "GpuInfo", "OnnxRuntimeBackend", "TensorRTBackend", "TorchBackend",
           "create_backend", "default_engine_dir", "probe_gpu", "tensorrt_installed"]
