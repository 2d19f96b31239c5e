"""Benchmark CLI smoke test (CI mode: tiny run counts; times are not asserted)."""
import json

import pytest

from mpm_model.deploy import bench


def test_bench_smoke_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--backends", "torch,onnxruntime", "--windows", "27", "--batches", "1,2", "--runs", "3",
                "--warmup", "1", "--threads", "1", "--json-out", str(out)])
    printed = capsys.readouterr().out
    assert "| backend | device | T | batch |" in printed and "| onnxruntime | cpu | 27 | 2 |" in printed
    report = json.loads(out.read_text())
    assert report["model"]["random_init"] and report["model"]["configs"][0]["window"] == 27
    assert {"cpu", "threads", "torch", "onnxruntime", "gpu"} <= set(report["device_info"])
    rows = report["results"]
    assert [(r["backend"], r["batch"]) for r in rows] == [("torch", 1), ("torch", 2), ("onnxruntime", 1),
                                                          ("onnxruntime", 2)]
    for row in rows:
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["windows_per_s"] > 0


@pytest.mark.parametrize("argv", [["--backends", "openvino"], ["--windows", "27,x"], ["--batches", "0"],
                                  ["--runs", "0"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)
