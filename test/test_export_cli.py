"""`python -m mpm_model.deploy.export` from a saved checkpoint."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from mpm_model.deploy import export
from mpm_model.deploy.backends import create_backend
from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend
from mpm_model.deploy.backends.torch_backend import TorchBackend
from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter

torch.set_num_threads(1)


def test_cli_exports_checkpoint(tmp_path, capsys):
    cfg = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1, causal=True, lookahead=1)
    torch.manual_seed(2)
    checkpoint = save_checkpoint(tmp_path / "lifter.pt", MPMLifter(cfg), cfg, "lifter", {}, "synthetic")
    out = tmp_path / "out" / "lifter.onnx"
    export.main(["--checkpoint", str(checkpoint), "--onnx", str(out), "--batch-max", "4", "--opset", "17"])
    assert f"wrote {out}" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "out" / "lifter.onnx.json").read_text())
    assert sidecar["opset"] == 17 and sidecar["batch_max"] == 4 and sidecar["target_index"] == 25
    rng = np.random.default_rng(0)
    keypoints2d, mask = rng.uniform(-1, 1, (2, 27, 17, 2)).astype(np.float32), rng.random((2, 27, 17)) < 0.2
    expected = TorchBackend.from_checkpoint(checkpoint).infer(keypoints2d, mask)
    np.testing.assert_allclose(OnnxRuntimeBackend(out).infer(keypoints2d, mask), expected, atol=1e-4)


def test_cli_default_output_is_the_cache_file_create_backend_reuses(tmp_path, capsys):
    cfg = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1, causal=True)
    checkpoint = save_checkpoint(tmp_path / "lifter.pt", MPMLifter(cfg), cfg, "lifter", {}, "synthetic")
    export.main(["--checkpoint", str(checkpoint), "--engine-dir", str(tmp_path / "engines"), "--batch-max", "4"])
    (written,) = (tmp_path / "engines").glob("*.onnx")
    assert f"wrote {written}" in capsys.readouterr().out
    stamp = written.stat().st_mtime_ns
    backend = create_backend("onnxruntime", checkpoint=checkpoint, engine_dir=tmp_path / "engines", device="cpu",
                             export_batch_max=4)
    assert backend.onnx_path == written and written.stat().st_mtime_ns == stamp  # reused, not exported again


def test_cli_reports_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        export.main(["--checkpoint", str(tmp_path / "nope"), "--onnx", str(tmp_path / "x.onnx")])
    assert stop.value.code == 2 and "cannot load checkpoint" in capsys.readouterr().err


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "mpm_model.deploy.export", "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and "--batch-max" in result.stdout
