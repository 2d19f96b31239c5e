"""ORT-vs-torch parity of the ONNX export for long windows (T=81, 243) with tiny models, causal and centred."""
import numpy as np
import pytest
import torch

from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend
from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import export_onnx
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
TOLERANCE = 1e-4
TINY = dict(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=2)


@pytest.mark.parametrize("window,causal,lookahead", [(81, False, 0), (81, True, 3), (243, False, 0), (243, True, 0)],
                         ids=["t81-centred", "t81-causal-la3", "t243-centred", "t243-causal"])
def test_ort_matches_torch(tmp_path, window, causal, lookahead):
    cfg = ModelConfig(window=window, causal=causal, lookahead=lookahead, **TINY)
    torch.manual_seed(window + causal)
    model = MPMLifter(cfg).eval()
    path = tmp_path / "lifter.onnx"
    export_onnx(model, cfg, path, batch_max=4)
    ort_backend, torch_backend = OnnxRuntimeBackend(path, threads=1), TorchBackend(model, cfg)
    assert ort_backend.max_batch == 4
    rng = np.random.default_rng(window)
    worst = 0.0
    for batch in (1, 3):  # one file, several batch sizes: the batch dim must really be dynamic
        keypoints2d = rng.uniform(-1, 1, (batch, window, 17, 2)).astype(np.float32)
        for mask in (np.zeros((batch, window, 17), bool), rng.random((batch, window, 17)) < 0.4):
            expected = torch_backend.infer(keypoints2d, mask)
            worst = max(worst, float(np.abs(ort_backend.infer(keypoints2d, mask) - expected).max()))
            assert np.abs(expected).max() > 1e-3
    assert worst <= TOLERANCE
