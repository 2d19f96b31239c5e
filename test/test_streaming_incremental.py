"""IncrementalLifter (cached per-frame features) returns what the full-window recompute returns."""
from pathlib import Path

import numpy as np
import pytest
import torch

from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter
from mpm_model.deploy.bench_incremental import compare, full_recompute, mocap_streams
from mpm_model.deploy.export import export_step_onnx
from mpm_model.streaming.incremental import IncrementalLifter

torch.set_num_threads(1)
TINY = dict(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=2)
TEST_SLICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap_h36m17_test_slice.npz"


def _model(window=27, causal=True, lookahead=0, seed=0):
    torch.manual_seed(seed)
    model = MPMLifter(ModelConfig(window=window, causal=causal, lookahead=lookahead, **TINY)).eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):  # non-trivial statistics
        bn.running_mean.normal_(0, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
    return model


def _stream(frames, tracks, seed=0):
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(-1, 1, (frames, tracks, 17, 2)).astype(np.float32)
    mask = rng.random((frames, tracks, 17)) < 0.2
    mask[5] = True  # a fully masked frame mid-stream
    keypoints[mask] = np.nan  # masked values are never read
    return keypoints, mask


@pytest.mark.parametrize("window,causal,lookahead", [(27, True, 0), (27, True, 3), (9, False, 0)])
def test_steps_equal_full_recompute_for_every_track(window, causal, lookahead):
    model = _model(window, causal, lookahead)
    keypoints, mask = _stream(window + 12, tracks=3)
    lifter = IncrementalLifter(model, tracks=3)
    stepped = np.stack([lifter.step(keypoints[i], mask[i]) for i in range(len(keypoints))])  # (N, B, J, 3)
    assert lifter.delay_frames == window - 1 - model.cfg.target_index
    for track in range(3):
        expected = full_recompute(model, np.nan_to_num(keypoints[:, track]), mask[:, track])
        assert np.abs(stepped[:, track] - expected).max() <= 1e-5
        assert np.abs(expected).max() > 1e-3


def test_torch_in_torch_out_and_reset_of_one_track():
    model = _model()
    keypoints, mask = _stream(40, tracks=2, seed=1)
    lifter = IncrementalLifter(model, tracks=2)
    for i in range(30):
        out = lifter.step(torch.from_numpy(np.nan_to_num(keypoints[i])), torch.from_numpy(mask[i]))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 17, 3)
    lifter.reset([1])  # track slot 1 restarts: its window is fully masked again
    fresh = IncrementalLifter(model, tracks=1)
    for i in range(30, 40):
        both = lifter.step(keypoints[i], mask[i])
        alone = fresh.step(keypoints[i, 1:], mask[i, 1:])
    assert np.abs(both[1] - alone[0]).max() <= 1e-5
    expected = full_recompute(model, np.nan_to_num(keypoints[:, 0]), mask[:, 0])[-1]
    assert np.abs(both[0] - expected).max() <= 1e-5


def test_bad_inputs_raise():
    model = _model()
    lifter = IncrementalLifter(model, tracks=2)
    with pytest.raises(ValueError, match="shape"):
        lifter.step(np.zeros((3, 17, 2), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        lifter.step(np.full((2, 17, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="mask"):
        lifter.step(np.zeros((2, 17, 2), np.float32), np.zeros((2, 17), np.float32))
    with pytest.raises(TypeError):
        IncrementalLifter(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError):
        IncrementalLifter(model, tracks=0)


def test_step_graph_in_onnx_runtime_matches_torch(tmp_path):
    from mpm_model.deploy.bench_models import ort_session

    model = _model()
    export_step_onnx(model, tmp_path / "step.onnx", batch_max=4)
    session = ort_session(tmp_path / "step.onnx", 1)
    keypoints, mask = _stream(35, tracks=3, seed=2)
    keypoints = np.nan_to_num(keypoints)
    lifter = IncrementalLifter(model, tracks=3)
    features = lifter.features.numpy()
    for i in range(35):
        pose3d, features = session.run(None, {"keypoints2d": keypoints[i][:, None], "mask": mask[i][:, None],
                                              "features": features})
        expected = lifter.step(keypoints[i], mask[i])
        assert np.abs(pose3d[:, 0] - expected).max() <= 1e-4


@pytest.mark.skipif(not TEST_SLICE.is_file(), reason="shared mocap test slice not present")
def test_shipped_causal_lifter_on_real_streams():
    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.data.mocap import load_mocap

    model, cfg, _ = load_checkpoint("mpm_t27_causal", kind="lifter")
    streams = mocap_streams(load_mocap(TEST_SLICE)[:3], cfg.fps)
    report = compare(model, streams)
    assert report["frames"] > 100
    assert report["max_abs_diff_m"] <= 1e-5
    assert abs(report["mpjpe_full_mm"] - report["mpjpe_incremental_mm"]) <= 1e-3
    assert 20 < report["mpjpe_full_mm"] < 300


def test_cli_reports_accuracy_and_latency(tmp_path):
    """`python -m mpm_model.deploy.bench_incremental` (docs/DEPLOYMENT.md), small: a tiny model, two short clips."""
    import json
    import subprocess
    import sys

    from mpm_model.untrained import random_checkpoint, tiny_config

    checkpoint = random_checkpoint(tmp_path / "tiny.pt", tiny_config(window=9))
    data = tmp_path / "clips.npz"
    subprocess.run([sys.executable, "-m", "mpm_model.data.make_synthetic", "--out", str(data), "--sequences", "2",
                    "--frames", "90"], check=True, capture_output=True)
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "mpm_model.deploy.bench_incremental", "--checkpoint", str(checkpoint),
                          "--data", str(data), "--tracks", "2", "--threads", "1", "--rounds", "2", "--json-out",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["accuracy"]["frames"] > 0 and report["accuracy"]["max_abs_diff_m"] <= 1e-5
    row = report["latency_tracks2"]
    assert set(row) == {"torch_full_ms", "torch_incremental_ms", "ort_full_ms", "ort_incremental_ms"}
    assert all(value > 0 for value in row.values()) and "load average" in report["uptime_after"]
