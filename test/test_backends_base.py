"""Backend.infer contract via the torch backend: validation errors, NaN handling, chunking, precisions."""
import numpy as np
import pytest
import torch

from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
CFG = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MPMLifter(CFG).eval()


def _inputs(batch, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (batch, 27, 17, 2)).astype(np.float32), rng.random((batch, 27, 17)) < 0.2)


def test_attributes_and_output(model):
    backend = TorchBackend(model, CFG, max_batch=4)
    assert (backend.name, backend.device, backend.max_batch, backend.config) == ("torch", "cpu", 4, CFG)
    out = backend.infer(*_inputs(2))
    assert out.shape == (2, 1, 17, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :, 0], 0.0)  # root-relative: pelvis at the origin
    assert not model.training


def test_chunking_matches_single_pass(model):
    keypoints2d, mask = _inputs(7)
    whole = TorchBackend(model, CFG, max_batch=64).infer(keypoints2d, mask)
    chunked = TorchBackend(model, CFG, max_batch=3).infer(keypoints2d, mask)  # 3 + 3 + 1
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


@pytest.mark.parametrize("keypoints2d,mask,match", [
    (np.zeros((1, 26, 17, 2), np.float32), np.zeros((1, 26, 17), bool), r"\(B>=1, 27, 17, 2\)"),
    (np.zeros((1, 27, 16, 2), np.float32), np.zeros((1, 27, 16), bool), "shape"),
    (np.zeros((0, 27, 17, 2), np.float32), np.zeros((0, 27, 17), bool), "B>=1"),
    (np.zeros((27, 17, 2), np.float32), np.zeros((27, 17), bool), "shape"),
    (np.zeros((2, 27, 17, 2), np.float32), np.zeros((1, 27, 17), bool), "mask must have shape"),
    (np.zeros((1, 27, 17, 2), np.int32), np.zeros((1, 27, 17), bool), "float array"),
    (np.zeros((1, 27, 17, 2), np.float32), np.zeros((1, 27, 17), np.uint8), "bool array"),
])
def test_bad_input_raises_value_error(model, keypoints2d, mask, match):
    with pytest.raises(ValueError, match=match):
        TorchBackend(model, CFG).infer(keypoints2d, mask)


def test_non_array_input_raises_type_error(model):
    with pytest.raises(TypeError, match="numpy arrays"):
        TorchBackend(model, CFG).infer([[0.0]], np.zeros((1, 27, 17), bool))


def test_nan_handling(model):
    backend = TorchBackend(model, CFG)
    keypoints2d, mask = _inputs(2)
    visible_nan = keypoints2d.copy()
    visible_nan[0, 3, 5] = np.nan
    mask_for_visible = mask.copy()
    mask_for_visible[0, 3, 5] = False
    with pytest.raises(ValueError, match="1 unmasked joint"):
        backend.infer(visible_nan, mask_for_visible)
    masked_nan = keypoints2d.copy()
    masked_nan[mask] = np.inf
    out = backend.infer(masked_nan, mask)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, backend.infer(keypoints2d, mask), atol=1e-6)


def test_float64_input_is_accepted(model):
    keypoints2d, mask = _inputs(1)
    backend = TorchBackend(model, CFG)
    np.testing.assert_allclose(backend.infer(keypoints2d.astype(np.float64), mask), backend.infer(keypoints2d, mask),
                               atol=1e-6)


@pytest.mark.parametrize("precision,atol", [("bf16", 0.1), ("fp16", 0.02)])
def test_reduced_precision_stays_close(model, precision, atol):
    keypoints2d, mask = _inputs(2)
    reference = TorchBackend(MPMLifter(CFG).eval(), CFG)
    reference.model.load_state_dict(model.state_dict())
    low = TorchBackend(MPMLifter(CFG).eval(), CFG, precision=precision)
    low.model.load_state_dict(model.state_dict())
    got = low.infer(keypoints2d, mask)
    assert got.dtype == np.float32
    assert np.abs(got - reference.infer(keypoints2d, mask)).max() < atol


def test_bad_settings(model):
    with pytest.raises(ValueError, match="precision"):
        TorchBackend(model, CFG, precision="int8")
    with pytest.raises(ValueError, match="max_batch"):
        TorchBackend(model, CFG, max_batch=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            TorchBackend(model, CFG, device="cuda")
