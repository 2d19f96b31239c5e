"""Benchmark CLI smoke test (CI mode: tiny run counts; times are not asserted)."""
import json

import pytest
import torch

from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.deploy import bench
from mpm_model.deploy.export import onnx_cache_path
from mpm_model.model import MPMLifter


def test_bench_smoke_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--backends", "torch,onnxruntime", "--windows", "27", "--batches", "1,2", "--runs", "3",
                "--warmup", "1", "--threads", "1", "--json-out", str(out)])
    printed = capsys.readouterr().out
    assert "| backend | device | T | batch |" in printed and "| onnxruntime | cpu | 27 | 2 |" in printed
    assert "1 threads, spinning off" in printed
    report = json.loads(out.read_text())
    assert report["model"]["random_init"] and report["model"]["configs"][0]["window"] == 27
    assert {"cpu", "threads", "spinning", "torch", "onnxruntime", "gpu"} <= set(report["device_info"])
    assert (report["device_info"]["threads"], report["device_info"]["spinning"]) == (1, False)
    rows = report["results"]
    assert [(r["backend"], r["batch"]) for r in rows] == [("torch", 1), ("torch", 2), ("onnxruntime", 1),
                                                          ("onnxruntime", 2)]
    for row in rows:
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["windows_per_s"] > 0


def test_a_checkpoint_is_timed_on_the_nodes_export(tmp_path, capsys):
    """With --checkpoint the ONNX Runtime session runs the very file create_backend caches for the node."""
    cfg = ModelConfig(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=1, causal=True)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", MPMLifter(cfg), cfg, "lifter", {}, "synthetic")
    engines = tmp_path / "engines"
    bench.main(["--backends", "onnxruntime", "--windows", "27", "--batches", "1", "--runs", "2", "--warmup", "0",
                "--threads", "1", "--spinning", "--checkpoint", str(checkpoint), "--engine-dir", str(engines)])
    assert "spinning on" in capsys.readouterr().out
    assert list(engines.glob("*.onnx")) == [onnx_cache_path(checkpoint, engines, 64)]


@pytest.mark.parametrize("argv", [["--backends", "openvino"], ["--windows", "27,x"], ["--batches", "0"],
                                  ["--runs", "0"], ["--threads", "-1"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)
