"""ONNX export of the default-size lifter at T=27: sidecar, graph signature and ORT-vs-torch parity."""
import json

import numpy as np
import onnx
import pytest
import torch

from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend
from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import OnnxExportError, export_onnx, read_onnx_sidecar, sidecar_path
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
TOLERANCE = 1e-4


def _inputs(cfg: ModelConfig, batch: int, occluded: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    keypoints2d = rng.uniform(-1, 1, (batch, cfg.window, cfg.num_joints, 2)).astype(np.float32)
    mask = rng.random(keypoints2d.shape[:3]) < 0.3 if occluded else np.zeros(keypoints2d.shape[:3], bool)
    return keypoints2d, mask


@pytest.fixture(scope="module", params=[False, True], ids=["centred", "causal"])
def exported(request, tmp_path_factory):
    cfg = ModelConfig(window=27, causal=request.param)  # default size
    torch.manual_seed(1)
    model = MPMLifter(cfg).eval()
    path = tmp_path_factory.mktemp("onnx") / "lifter.onnx"
    sidecar = export_onnx(model, cfg, path, batch_max=8)
    return model, cfg, path, sidecar


@pytest.mark.parametrize("occluded", [False, True], ids=["visible", "occluded"])
def test_ort_matches_torch_for_several_batch_sizes_on_one_file(exported, occluded):
    model, cfg, path, _ = exported
    ort_backend = OnnxRuntimeBackend(path, threads=1)
    torch_backend = TorchBackend(model, cfg)
    for batch in (1, 3):
        keypoints2d, mask = _inputs(cfg, batch, occluded, seed=batch)
        expected = torch_backend.infer(keypoints2d, mask)
        got = ort_backend.infer(keypoints2d, mask)
        assert got.shape == (batch, 1, 17, 3) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(expected).max() > 1e-3  # a zero output would make the parity check vacuous


def test_masked_values_are_ignored(exported):
    _, cfg, path, _ = exported
    backend = OnnxRuntimeBackend(path, threads=1)
    keypoints2d, mask = _inputs(cfg, 2, occluded=True, seed=7)
    garbage = keypoints2d.copy()
    garbage[mask] = np.nan  # NaN under the mask is zeroed by Backend.infer; other garbage is replaced by the token
    other = keypoints2d.copy()
    other[mask] = 123.0
    np.testing.assert_allclose(backend.infer(garbage, mask), backend.infer(other, mask), atol=1e-6)


def test_sidecar_and_graph_signature(exported):
    _, cfg, path, sidecar = exported
    on_disk = json.loads(sidecar_path(path).read_text())
    assert on_disk == sidecar
    assert ModelConfig.from_dict(on_disk["config"]) == cfg and read_onnx_sidecar(path)[0] == cfg
    assert on_disk["opset"] == 18 and on_disk["target_index"] == cfg.target_index
    assert set(on_disk["exporter"]) == {"dynamo", "torch", "onnx", "onnxscript"}
    assert on_disk["inputs"][0] == {"name": "keypoints2d", "shape": ["batch", 27, 17, 2], "dtype": "float32"}
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(graph.graph.input) + list(graph.graph.output)}
    assert dims["keypoints2d"][1:] == [27, 17, 2] and isinstance(dims["keypoints2d"][0], str)
    assert dims["mask"][1:] == [27, 17] and dims["pose3d"][1:] == [1, 17, 3]
    assert dims["keypoints2d"][0] == dims["mask"][0] == dims["pose3d"][0]  # one shared dynamic batch dim
    assert "LayerNormalization" in {node.op_type for node in graph.graph.node}


def test_rejects_low_opset_and_tiny_batch_range(tmp_path):
    cfg = ModelConfig(d_model=16, heads=2, depth=1, encoder_hidden=16, ffn_dim=16)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(MPMLifter(cfg), cfg, tmp_path / "x.onnx", opset=16)
    with pytest.raises(ValueError, match="batch_max"):
        export_onnx(MPMLifter(cfg), cfg, tmp_path / "x.onnx", batch_max=1)


class _DataDependent(torch.nn.Module):
    """Python branching on tensor values cannot be captured by torch.export."""

    def forward(self, keypoints2d, mask):
        if keypoints2d.sum() > 0:
            return keypoints2d[:, :1, :, :1].repeat(1, 1, 1, 3)
        return keypoints2d[:, :1, :, :1].repeat(1, 1, 1, 3) * 2


def test_exporter_failure_is_reported_not_hidden(tmp_path):
    cfg = ModelConfig()
    with pytest.raises(OnnxExportError, match="dynamo export"):
        export_onnx(_DataDependent(), cfg, tmp_path / "bad.onnx")
    assert not sidecar_path(tmp_path / "bad.onnx").exists()
