"""Crash-proof GPU / TensorRT discovery: probes run in a child process so a broken driver cannot kill the caller."""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import shutil
import subprocess
import sys

# Runs in a child interpreter; prints one JSON line. Imports that segfault or hang only take the child down.
_PROBE_SCRIPT = r"""
import json
info = {"torch_cuda": False, "name": "", "compute_capability": "", "tensorrt_version": ""}
try:
    import torch
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        info.update(torch_cuda=True, name=torch.cuda.get_device_name(0), compute_capability=f"{major}.{minor}")
except Exception as exc:
    info["torch_error"] = f"{type(exc).__name__}: {exc}"
try:
    import tensorrt
    info["tensorrt_version"] = tensorrt.__version__
except Exception as exc:
    info["tensorrt_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(info))
"""


@dataclasses.dataclass(frozen=True)
class GpuInfo:
    """What the probe found; `reason` says in words why a GPU path is or is not usable."""

    available: bool
    name: str = ""
    compute_capability: str = ""
    torch_cuda: bool = False
    tensorrt_version: str = ""
    reason: str = ""


def tensorrt_installed() -> bool:
    """True if a `tensorrt` package is importable in principle (no import: that can be slow or crash)."""
    return importlib.util.find_spec("tensorrt") is not None


def _nvidia_smi(timeout_s: float) -> tuple[str, str]:
    """(name, compute capability) of GPU 0 from nvidia-smi, or ('', '') when there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "", ""
    try:
        result = subprocess.run([exe, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "", ""
    first = result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else ""
    parts = [p.strip() for p in first.split(",")]
    return (parts[0], parts[1] if len(parts) > 1 else "") if parts[0] else ("", "")


@functools.lru_cache(maxsize=1)
def probe_gpu(timeout_s: float = 30.0) -> GpuInfo:
    """Probe torch.cuda and tensorrt in a subprocess (with timeout), falling back to nvidia-smi; never raises."""
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE_SCRIPT], capture_output=True, text=True,
                                timeout=timeout_s, check=False)
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            child = {"probe_error": f"probe exited with code {result.returncode}: {result.stderr.strip()[-300:]}"}
        else:
            child = json.loads(lines[-1])
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        child = {"probe_error": f"probe failed: {type(exc).__name__}: {exc}"}

    trt_version = child.get("tensorrt_version", "")
    if child.get("torch_cuda"):
        return GpuInfo(True, child["name"], child["compute_capability"], True, trt_version,
                       f"CUDA GPU {child['name']} (sm {child['compute_capability']}) visible to torch")
    name, capability = _nvidia_smi(timeout_s)
    if name:
        return GpuInfo(True, name, capability, False, trt_version,
                       f"GPU {name} found by nvidia-smi, but this torch build cannot use CUDA")
    why = child.get("probe_error") or child.get("torch_error") or "torch.cuda.is_available() is False"
    return GpuInfo(False, torch_cuda=False, tensorrt_version=trt_version,
                   reason=f"no CUDA GPU: {why}; nvidia-smi found none")
