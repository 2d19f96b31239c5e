"""create_backend choices on this machine, its export cache keyed on the checkpoint file, and the crash-proof
GPU probe."""
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from mpm_model import checkpoint as checkpoints
from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends import create_backend, default_engine_dir, probe_gpu, tensorrt_installed
from mpm_model.deploy.backends.factory import _OnnxSource
from mpm_model.deploy.export import onnx_cache_path
from mpm_model.deploy.backends.gpu_probe import GpuInfo
from mpm_model.model import MPMLifter

torch.set_num_threads(1)
CFG = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1)
HAS_GPU_STACK = tensorrt_installed() or probe_gpu().available


class CountedLifter(MPMLifter):
    """MPMLifter that counts its constructions: registered as the lifter class, it shows when a model is built."""

    built = 0

    def __init__(self, cfg: ModelConfig, dropout: float = 0.0) -> None:
        type(self).built += 1
        super().__init__(cfg, dropout=dropout)


@pytest.fixture
def counted(monkeypatch):
    """Every lifter rebuilt from a checkpoint is a CountedLifter while the test runs."""
    monkeypatch.setitem(checkpoints.KINDS["lifter"], "mpm", CountedLifter)
    return CountedLifter


def _inputs(batch: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (batch, 27, 17, 2)).astype(np.float32), rng.random((batch, 27, 17)) < 0.2


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
    assert exported == [onnx_cache_path(checkpoint, tmp_path / "engines", 64)]
    stamp = exported[0].stat().st_mtime_ns
    again = create_backend("auto", checkpoint=checkpoint, engine_dir=tmp_path / "engines", threads=1)
    assert exported[0].stat().st_mtime_ns == stamp  # reused, not re-exported
    keypoints2d, mask = _inputs()
    reference = create_backend("torch", checkpoint=checkpoint).infer(keypoints2d, mask)
    np.testing.assert_allclose(again.infer(keypoints2d, mask), reference, atol=1e-4)


def test_warm_start_builds_no_model_and_new_weights_export_anew(tmp_path, counted):
    path = tmp_path / "lifter.pt"
    torch.manual_seed(1)
    save_checkpoint(path, CountedLifter(CFG), CFG, "lifter", {}, "synthetic")
    engines, start = tmp_path / "engines", counted.built
    cold = create_backend("onnxruntime", checkpoint=path, engine_dir=engines, device="cpu", export_batch_max=2)
    assert counted.built == start + 1  # the cold start built the model to export it
    warm = create_backend("onnxruntime", checkpoint=path, engine_dir=engines, device="cpu", export_batch_max=2)
    assert counted.built == start + 1 and warm.onnx_path == cold.onnx_path  # hashed the file, built nothing

    torch.manual_seed(2)
    save_checkpoint(path, CountedLifter(CFG), CFG, "lifter", {}, "synthetic")  # new weights, same path and config
    start = counted.built
    fresh = create_backend("onnxruntime", checkpoint=path, engine_dir=engines, device="cpu", export_batch_max=2)
    assert counted.built == start + 1 and fresh.onnx_path != cold.onnx_path
    keypoints2d, mask = _inputs()
    np.testing.assert_allclose(fresh.infer(keypoints2d, mask),
                               create_backend("torch", checkpoint=path).infer(keypoints2d, mask), atol=1e-4)
    assert not np.allclose(fresh.infer(keypoints2d, mask), cold.infer(keypoints2d, mask), atol=1e-3)


def test_a_failed_export_is_not_tried_again(tmp_path, counted, checkpoint):
    """auto's TensorRT -> ONNX Runtime fallback asks the same source twice: the second ask re-raises, no export."""
    blocked = tmp_path / "not_a_dir"
    blocked.write_text("a file where the cache directory should be")
    source = _OnnxSource(checkpoint, None, blocked, 64)
    with pytest.raises(OSError) as first:
        source.path()
    after_first = counted.built  # the cache lock fails before any model is built
    with pytest.raises(OSError) as second:
        source.path()
    assert second.value is first.value and counted.built == after_first


def test_engine_dir_defaults_to_the_nodes_cache(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_HOME", str(tmp_path / "ros"))
    assert default_engine_dir() == tmp_path / "ros" / "mpm_ros" / "engines"
    backend = create_backend("onnxruntime", checkpoint=checkpoint, device="cpu", export_batch_max=2)
    assert backend.onnx_path == onnx_cache_path(checkpoint, default_engine_dir(), 2) and backend.onnx_path.is_file()


def test_threads_and_spinning_reach_the_onnxruntime_session(checkpoint, tmp_path):
    for threads, spinning, flag in ((None, False, "0"), (1, True, "1")):
        backend = create_backend("onnxruntime", checkpoint=checkpoint, engine_dir=tmp_path, device="cpu",
                                 export_batch_max=2, threads=threads, spinning=spinning)
        options = backend.session.get_session_options()
        assert options.intra_op_num_threads == (threads or 0)
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == flag
        assert options.get_session_config_entry("session.inter_op.allow_spinning") == flag


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
    for name in ("torch", "onnxruntime"):
        with pytest.raises(FileNotFoundError, match=r"checkpoint not found: 'no_such_shipped_model' .*shipped: \["):
            create_backend(name, checkpoint="no_such_shipped_model")


def test_export_cache_key_follows_the_graph_code(checkpoint, tmp_path, monkeypatch) -> None:
    """Same weights, new model/export code (a faster graph, a fix): a new export, never the stale file."""
    from mpm_model.deploy import export

    root = Path(export.__file__).resolve().parents[1]
    assert all((root / name).is_file() for name in export.GRAPH_SOURCES)
    before = onnx_cache_path(checkpoint, tmp_path, 64)
    monkeypatch.setattr(export, "graph_code_hash", lambda: "0" * 64)
    assert onnx_cache_path(checkpoint, tmp_path, 64) != before


def test_a_fallback_says_why_on_the_backend_and_in_a_warning(checkpoint, tmp_path, monkeypatch, caplog):
    """Issue 20: auto falling back (here ORT -> torch, the export failed) is no longer silent."""
    from mpm_model.deploy.backends import factory
    from mpm_model.deploy.export import OnnxExportError

    fine = create_backend("auto", checkpoint=checkpoint, engine_dir=tmp_path, device="cpu", export_batch_max=2)
    assert fine.name == "onnxruntime" and fine.fallback_reason is None  # ORT on CPU is the best here: no fallback

    def broken_export(*args, **kwargs):
        raise OnnxExportError("exporter died")

    monkeypatch.setattr(factory, "cached_onnx", broken_export)
    with caplog.at_level(logging.WARNING, logger="mpm_model.deploy.backends.factory"):
        backend = create_backend("auto", checkpoint=checkpoint, engine_dir=tmp_path, device="cpu")
    assert backend.name == "torch"
    assert backend.fallback_reason == "fell back to torch: onnxruntime failed: OnnxExportError: exporter died"
    assert backend.fallback_reason in caplog.text
    assert create_backend("torch", checkpoint=checkpoint).fallback_reason is None  # asked for: not a fallback
