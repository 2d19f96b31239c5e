"""create_backend choices on this machine and the crash-proof GPU probe."""
import logging

import numpy as np
import pytest
import torch

from mpm_model.deploy.backends import create_backend, probe_gpu, tensorrt_installed
from mpm_model.deploy.backends.gpu_probe import GpuInfo
from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
CFG = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1)
HAS_GPU_STACK = tensorrt_installed() or probe_gpu().available


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(5)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_lifter.pt", MPMLifter(CFG), CFG, "lifter",
                           {}, "synthetic")


def test_probe_never_raises_and_explains():
    info = probe_gpu()
    assert isinstance(info, GpuInfo) and info.reason
    if not info.available:
        assert "no CUDA GPU" in info.reason and info.name == ""


@pytest.mark.skipif(HAS_GPU_STACK, reason="this machine has tensorrt or a GPU; auto would not pick ORT CPU")
def test_auto_picks_onnxruntime_cpu_here_and_caches_the_export(checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="mpm_model.deploy.backends.factory"):
        backend = create_backend("auto", checkpoint=checkpoint, engine_dir=tmp_path / "engines", threads=1)
    assert backend.name == "onnxruntime" and backend.device == "cpu"
    assert backend.providers == ["CPUExecutionProvider"]
    assert "tensorrt is not installed" in backend.selection_reason and "no CUDA GPU" in backend.selection_reason
    assert backend.selection_reason in caplog.text
    exported = list((tmp_path / "engines").glob("tiny_lifter-*.onnx"))
    assert len(exported) == 1
    stamp = exported[0].stat().st_mtime_ns
    again = create_backend("auto", checkpoint=checkpoint, engine_dir=tmp_path / "engines", threads=1)
    assert exported[0].stat().st_mtime_ns == stamp  # reused, not re-exported
    rng = np.random.default_rng(0)
    keypoints2d, mask = rng.uniform(-1, 1, (2, 27, 17, 2)).astype(np.float32), np.zeros((2, 27, 17), bool)
    reference = create_backend("torch", checkpoint=checkpoint).infer(keypoints2d, mask)
    np.testing.assert_allclose(again.infer(keypoints2d, mask), reference, atol=1e-4)


def test_explicit_torch_and_onnxruntime(checkpoint, tmp_path):
    backend = create_backend("torch", checkpoint=checkpoint, max_batch=3)
    assert (backend.name, backend.max_batch, backend.config) == ("torch", 3, CFG)
    assert "requested explicitly" in backend.selection_reason
    ort = create_backend("onnxruntime", checkpoint=checkpoint, engine_dir=tmp_path, device="cpu",
                         export_batch_max=4)
    assert ort.name == "onnxruntime" and ort.max_batch == 4
    by_file = create_backend("onnxruntime", onnx=ort.onnx_path, device="cpu")
    assert by_file.config == CFG


@pytest.mark.skipif(tensorrt_installed(), reason="tensorrt is installed here")
def test_explicit_tensorrt_without_tensorrt_fails_clearly_before_exporting(checkpoint, tmp_path):
    with pytest.raises(RuntimeError, match="needs the `tensorrt` Python package"):
        create_backend("tensorrt", checkpoint=checkpoint, engine_dir=tmp_path)
    assert not list(tmp_path.glob("*.onnx"))


def test_bad_requests(checkpoint):
    with pytest.raises(ValueError, match="backend must be one of"):
        create_backend("openvino", checkpoint=checkpoint)
    with pytest.raises(ValueError, match="checkpoint="):
        create_backend("torch")
    with pytest.raises(ValueError, match="onnx= .* or checkpoint="):
        create_backend("onnxruntime")
    with pytest.raises(ValueError, match="fp32"):
        create_backend("onnxruntime", checkpoint=checkpoint, precision="fp16")
    with pytest.raises(FileNotFoundError, match="no pretrained weights named"):
        create_backend("torch", checkpoint="no_such_shipped_model")
