"""Deployment backends sharing one `Backend.infer` interface. Names are imported on first use: the torch-free parts
(`names`, `engine_cache`, `mpm_model.files`) load without torch, and onnxruntime / tensorrt load only when used."""
from mpm_model.lazy import lazy_exports

_EXPORTS = {
    "mpm_model.deploy.backends.base": ("Backend",),
    "mpm_model.deploy.backends.factory": ("create_backend",),
    "mpm_model.deploy.backends.gpu_probe": ("GpuInfo", "probe_gpu", "tensorrt_installed"),
    "mpm_model.deploy.backends.names": ("BACKEND_NAMES", "PRECISIONS", "precision_problem"),
    "mpm_model.deploy.backends.onnxruntime_backend": ("OnnxRuntimeBackend",),
    "mpm_model.deploy.backends.tensorrt_backend": ("TensorRTBackend",),
    "mpm_model.deploy.backends.torch_backend": ("TorchBackend",),
    "mpm_model.files": ("default_engine_dir",),
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
