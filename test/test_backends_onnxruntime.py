"""OnnxRuntimeBackend: provider assertion, thread/spinning options, sidecar checks, batch range and chunking past
the export's batch_max."""
import json

import numpy as np
import onnxruntime
import pytest
import torch

from mpm_model.deploy.backends.onnxruntime_backend import SPINNING_KEYS, OnnxRuntimeBackend, providers_for_device
from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import export_onnx, sidecar_path
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
CFG = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1, causal=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(3)
    model = MPMLifter(CFG).eval()
    path = tmp_path_factory.mktemp("ort") / "tiny.onnx"
    export_onnx(model, CFG, path, batch_max=2)
    return model, path


def test_cpu_session_uses_exactly_the_requested_provider(exported):
    backend = OnnxRuntimeBackend(exported[1], device="cpu", threads=1)
    assert backend.providers == ["CPUExecutionProvider"]
    assert (backend.name, backend.device, backend.max_batch, backend.config) == ("onnxruntime", "cpu", 2, CFG)


def test_spinning_is_off_unless_asked_and_threads_are_applied(exported):
    """Spinning ORT pools busy-wait between calls and take the cores from the ROS executor: off by default."""
    for kwargs, threads, flag in (({}, 0, "0"), ({"threads": 2, "spinning": True}, 2, "1")):
        options = OnnxRuntimeBackend(exported[1], **kwargs).session.get_session_options()
        assert options.intra_op_num_threads == threads
        assert [options.get_session_config_entry(key) for key in SPINNING_KEYS] == [flag, flag]
    with pytest.raises(ValueError, match="threads must be >= 0"):
        OnnxRuntimeBackend(exported[1], threads=-1)


def test_batches_beyond_export_range_run_in_chunks(exported):
    model, path = exported
    rng = np.random.default_rng(0)
    keypoints2d = rng.uniform(-1, 1, (5, 27, 17, 2)).astype(np.float32)
    mask = rng.random((5, 27, 17)) < 0.3
    got = OnnxRuntimeBackend(path, threads=1).infer(keypoints2d, mask)
    np.testing.assert_allclose(got, TorchBackend(model, CFG).infer(keypoints2d, mask), atol=1e-4)


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                    reason="this onnxruntime has the CUDA provider; the missing-provider error cannot occur")
def test_missing_cuda_provider_is_an_error(exported):
    with pytest.raises(RuntimeError, match="lacks \\['CUDAExecutionProvider'\\]"):
        OnnxRuntimeBackend(exported[1], device="cuda")


def test_provider_lists():
    assert providers_for_device("cpu") == ["CPUExecutionProvider"]
    assert providers_for_device("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    for bad in ("gpu", "cuda:x"):
        with pytest.raises(ValueError, match="device"):
            providers_for_device(bad)


def test_config_and_batch_checks(exported):
    path = exported[1]
    with pytest.raises(ValueError, match="another ModelConfig"):
        OnnxRuntimeBackend(path, expected_config=CFG.replace(causal=False))
    with pytest.raises(ValueError, match="exceeds the exported batch range"):
        OnnxRuntimeBackend(path, max_batch=3)
    assert OnnxRuntimeBackend(path, max_batch=1).max_batch == 1


def test_stale_or_missing_sidecar_is_refused(exported, tmp_path):
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(exported[1].read_bytes())
    with pytest.raises(FileNotFoundError, match="sidecar"):
        OnnxRuntimeBackend(copy)
    sidecar = json.loads(sidecar_path(exported[1]).read_text())
    sidecar["onnx_sha256"] = "0" * 64
    sidecar_path(copy).write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="does not match the sha256"):
        OnnxRuntimeBackend(copy)
