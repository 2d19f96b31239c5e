"""The VideoPose3D-style TCN baseline: shapes, causality, checkpoint round trip and ONNX Runtime parity."""
import numpy as np
import pytest
import torch

from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend
from mpm_model.checkpoint import build_model, load_checkpoint, save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import export_onnx
from mpm_model.tcn import TCNLifter

torch.set_num_threads(1)
TINY = dict(arch="tcn", d_model=64)


@pytest.mark.parametrize("window,causal", [(27, True), (27, False), (81, True)])
def test_shapes_and_receptive_field(window, causal):
    cfg = ModelConfig(window=window, causal=causal, **TINY)
    model = TCNLifter(cfg).eval()
    x = torch.randn(3, window, 17, 2)
    mask = torch.zeros(3, window, 17, dtype=torch.bool)
    seq, target = model(x, mask)
    assert seq.shape == target.shape == (3, 1, 17, 3) and torch.all(target[:, :, 0] == 0)
    moved = x.clone()
    moved[:, 0] += 0.5  # the oldest frame is inside the receptive field
    assert not torch.allclose(model(moved, mask)[1], target)
    masked = mask.clone()
    masked[:, :, 3] = True  # masking changes the input (zeros + visibility channel)
    assert not torch.allclose(model(x, masked)[1], target)


def test_loss_trains_and_checkpoint_round_trip(tmp_path):
    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(0)
    model = build_model("lifter", cfg)
    assert isinstance(model, TCNLifter)
    x, mask, y = torch.randn(16, 27, 17, 2), torch.zeros(16, 27, 17, dtype=torch.bool), torch.randn(16, 27, 17, 3)
    y[:, :, 0] = 0
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = float(model.loss(x, mask, y).detach())
    for _ in range(30):
        opt.zero_grad()
        model.loss(x, mask, y).backward()
        opt.step()
    assert float(model.loss(x, mask, y).detach()) < 0.7 * first
    path = save_checkpoint(tmp_path / "tcn.pt", model, cfg, "lifter", {}, "none")
    loaded, loaded_cfg, _ = load_checkpoint(path, kind="lifter")
    assert loaded_cfg.arch == "tcn" and isinstance(loaded, TCNLifter)
    model.eval()
    assert torch.allclose(loaded(x, mask)[1], model(x, mask)[1])
    with pytest.raises(ValueError, match="arch"):
        TCNLifter(ModelConfig())
    with pytest.raises(ValueError, match="no 'pretrain' model"):
        build_model("pretrain", cfg)


def test_onnx_runtime_parity(tmp_path):
    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(2)
    model = TCNLifter(cfg).eval()
    path = tmp_path / "tcn.onnx"
    export_onnx(model, cfg, path, batch_max=4)
    backend = OnnxRuntimeBackend(path, threads=1)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 27, 17, 2)).astype(np.float32)
    mask = rng.random((3, 27, 17)) < 0.2
    expected = model(torch.from_numpy(x), torch.from_numpy(mask))[1][:, 0].detach().numpy()
    np.testing.assert_allclose(backend.infer(x, mask)[:, 0], expected, atol=1e-4)  # (B, 1, J, 3)
