"""TensorRT backend: real engine builds where tensorrt + a CUDA GPU exist (skipped otherwise, never faked),
plus the build_engine CLI paths that need no TensorRT."""
import json

import numpy as np
import pytest
import torch

from mpm_model.deploy import build_engine
from mpm_model.deploy.backends.gpu_probe import probe_gpu, tensorrt_installed
from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import export_onnx
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
CFG = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1)
TRT_MISSING = None if tensorrt_installed() else "tensorrt is not installed on this machine"
GPU = probe_gpu()  # one subprocess probe for the whole module
GPU_MISSING = None if GPU.available and GPU.torch_cuda else f"no CUDA GPU: {GPU.reason}"
needs_trt = pytest.mark.skipif(bool(TRT_MISSING or GPU_MISSING), reason=str(TRT_MISSING or GPU_MISSING))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(11)
    model = MPMLifter(CFG).eval()
    path = tmp_path_factory.mktemp("trt") / "tiny.onnx"
    export_onnx(model, CFG, path, batch_max=8)
    return model, path


def test_trtexec_equivalent_command(exported, capsys):
    build_engine.main(["--onnx", str(exported[1]), "--max-batch", "8", "--opt-batch", "2", "--fp16", "--trtexec"])
    line = capsys.readouterr().out.strip()
    assert "--minShapes=keypoints2d:1x27x17x2,mask:1x27x17" in line
    assert "--optShapes=keypoints2d:2x27x17x2,mask:2x27x17" in line
    assert "--maxShapes=keypoints2d:8x27x17x2,mask:8x27x17" in line and line.endswith(".engine")
    assert "--fp16" in line


def test_cli_rejects_batch_beyond_export(exported):
    with pytest.raises(SystemExit):
        build_engine.main(["--onnx", str(exported[1]), "--max-batch", "9"])


@pytest.mark.skipif(not TRT_MISSING, reason="tensorrt is installed here")
def test_cli_without_tensorrt_exits_with_a_clear_error(exported, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        build_engine.main(["--onnx", str(exported[1]), "--engine-dir", str(tmp_path)])
    assert stop.value.code == 2
    assert "needs the `tensorrt` Python package" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@needs_trt
@pytest.mark.parametrize("precision,atol", [("fp32", 1e-3), ("fp16", 5e-2)])
def test_engine_matches_torch_and_is_cached(exported, tmp_path, precision, atol):
    from mpm_model.deploy.backends.tensorrt_backend import TensorRTBackend, ensure_engine

    model, path = exported
    backend = TensorRTBackend.from_onnx(path, engine_dir=tmp_path, precision=precision, max_batch=4, opt_batch=2)
    assert backend.max_batch == 4 and backend.config == CFG
    rng = np.random.default_rng(0)
    reference = TorchBackend(model, CFG)
    for batch in (1, 3, 6):  # 6 > max_batch runs in two chunks
        keypoints2d = rng.uniform(-1, 1, (batch, 27, 17, 2)).astype(np.float32)
        mask = rng.random((batch, 27, 17)) < 0.3
        got = backend.infer(keypoints2d, mask)
        assert got.shape == (batch, 1, 17, 3)
        assert np.abs(got - reference.infer(keypoints2d, mask)).max() <= atol
    engine, _, rebuilt = ensure_engine(path, tmp_path, precision, 4, 2)
    assert not rebuilt
    sidecar = engine.with_name(engine.name + ".json")
    data = json.loads(sidecar.read_text())
    data["ingredients"]["gpu_name"] = "some other GPU"
    sidecar.write_text(json.dumps(data))
    assert ensure_engine(path, tmp_path, precision, 4, 2)[2]  # foreign sidecar: rebuilt, not loaded
    assert ensure_engine(path, tmp_path, precision, 4, 2, force_rebuild=True)[2]
