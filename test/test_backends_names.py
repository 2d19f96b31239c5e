"""Backend names and the precision rule: one torch-free module that the factory and the parameter tables share."""
import subprocess
import sys

import pytest

from mpm_model.deploy.backends.names import BACKEND_NAMES, PRECISIONS, precision_problem


@pytest.mark.parametrize("backend,precision,problem", [
    ("onnxruntime", "fp16", "backend=onnxruntime runs fp32 only, got precision='fp16'"),
    ("onnxruntime", "bf16", "backend=onnxruntime runs fp32 only, got precision='bf16'"),
    ("tensorrt", "bf16", "backend=tensorrt runs fp32 and fp16 only, got precision='bf16'"),
    ("torch", "int8", "precision must be one of ['fp32', 'fp16', 'bf16'], got 'int8'"),
    ("openvino", "fp32", "backend must be one of ['auto', 'torch', 'onnxruntime', 'tensorrt'], got 'openvino'"),
])
def test_refusals(backend, precision, problem):
    assert precision_problem(backend, precision) == problem


def test_what_runs():
    assert all(precision_problem(name, p) is None for name in ("auto", "torch") for p in PRECISIONS)
    assert precision_problem("onnxruntime", "fp32") is None and precision_problem("tensorrt", "fp16") is None
    assert BACKEND_NAMES[0] == "auto"


def test_names_and_cache_modules_load_without_torch():
    code = ("import sys; import mpm_model.deploy.backends.names, mpm_model.deploy.backends.engine_cache, "
            "mpm_model.files; from mpm_model.deploy.backends import BACKEND_NAMES; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
