"""Training recipe pieces: detector model, COCO synthesis, source-balanced sampler, time-aware LR, per-source
stratified split, and DistributedDataParallel with 2 CPU processes (gloo) whose ranks agree."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mpm_model.checkpoint import load_checkpoint
from mpm_model.data.detector import DetectorModel, detect_h36m, h36m_to_coco17
from mpm_model.data.draws import TorchDraws, generator
from mpm_model.data.mocap import MocapSequence, split_by_subject, write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.skeleton import coco17_to_h36m17
from mpm_model.training.loop import BalancedSampler
from mpm_model.training.steps import lr_factor

ROOT = Path(__file__).resolve().parents[1]


def test_coco_synthesis_places_face_points_on_the_head():
    pose = synthetic_sequences(1, 5, seed=0)[0].poses3d  # (5, 17, 3)
    coco = h36m_to_coco17(pose)
    nose, top = pose[:, 9], pose[:, 10]
    for eye in (1, 2):
        assert np.all(np.linalg.norm(coco[:, eye] - nose, axis=-1) < 0.08)
    ears = np.linalg.norm(coco[:, 3] - coco[:, 4], axis=-1)
    np.testing.assert_allclose(ears, 0.15, atol=1e-4)  # 7.5 cm either side
    left = np.linalg.norm(coco[:, 3] - pose[:, 11], axis=-1) < np.linalg.norm(coco[:, 3] - pose[:, 14], axis=-1)
    assert left.all()  # the left ear is on the left shoulder's side
    mapped, _ = coco17_to_h36m17(coco, np.ones(coco.shape[:2]))
    np.testing.assert_allclose(mapped[:, 0], pose[:, 0], atol=1e-5)  # pelvis = mid-hips in the data too
    assert np.all(np.linalg.norm(mapped[:, 10] - top, axis=-1) > 0.03)  # head is not the head top


def test_detector_errors_scale_with_person_and_confidence_tracks_error():
    rng = np.random.default_rng(0)
    uv = np.stack([np.linspace(100, 140, 17), np.linspace(100, 400, 17)], axis=-1)[None].repeat(200, 0)
    model = DetectorModel(jitter=(0.01, 0.01), outlier_max=0.0, swap_max=0.0, miss_max=0.0)
    small = uv * 0.25
    err_big = np.linalg.norm(model(uv, rng, ())[0] - uv, axis=-1).mean()
    err_small = np.linalg.norm(model(small, rng, ())[0] - small, axis=-1).mean()
    assert 3.0 < err_big / err_small < 5.0  # 4× the size, about 4× the pixel error
    noisy, conf = DetectorModel(outlier_max=0.2)(uv, rng, ())
    error = np.linalg.norm(noisy - uv, axis=-1).ravel()
    assert np.corrcoef(error, conf.ravel())[0, 1] < -0.5 and conf.min() >= 0 and conf.max() <= 1
    exact, ones = detect_h36m(uv, None, rng, None)
    assert np.array_equal(exact, uv.astype(np.float32)) and np.all(ones == 1)


def test_balanced_sampler_shares_and_shards():
    sources = np.array(["big"] * 900 + ["small"] * 100)
    sampler = BalancedSampler(sources, balance=0.0, seed=0)
    drawn = np.array(list(sampler))
    assert len(drawn) == 1000 and abs((drawn >= 900).mean() - 0.5) < 0.05  # equal shares
    natural = np.array(list(BalancedSampler(sources, balance=1.0, seed=0)))
    assert abs((natural >= 900).mean() - 0.1) < 0.03
    ranks = [list(BalancedSampler(sources, 0.25, seed=1, rank=r, world=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 500 and ranks[0] != ranks[1]
    sampler.set_epoch(1)
    assert list(sampler) != drawn.tolist()


def test_lr_schedule_is_time_aware():
    assert lr_factor(0, 1000, 0.0, None) < 0.1  # warm-up
    assert lr_factor(500, 1000, 0.0, None) == pytest.approx(lr_factor(500, 1000, 0.0, 60.0))
    assert lr_factor(100, 1000, 59.9, 60.0) < 0.03  # the clock is nearly spent: annealed
    assert lr_factor(1000, 1000, 0.0, None) == pytest.approx(0.02)


def test_split_holds_out_subjects_per_source():
    seqs = [MocapSequence(f"{src}{i}", f"{src}-s{i % 4}", 30.0, np.zeros((5, 17, 3), np.float32), src)
            for src in ("a", "b") for i in range(8)]
    train, val = split_by_subject(seqs, 0.25, seed=0)
    assert {s.source for s in val} == {"a", "b"}
    assert not {s.subject for s in train} & {s.subject for s in val}


@pytest.mark.parametrize("module,kind", [("finetune", "lifter"), ("pretrain", "pretrain")])
def test_torchrun_two_ranks_agree(tmp_path, module, kind):
    data = tmp_path / "tiny.npz"
    write_mocap(data, synthetic_sequences(6, 160, seed=0))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", f"mpm_model.training.{module}", "--data", str(data), "--out", str(out), "--epochs", "2", "--max-batches", "3",
           "--d-model", "32", "--depth", "1", "--heads", "4", "--ffn-dim", "64", "--encoder-hidden", "64",
           "--decoder-depth", "1", "--batch-size", "8", "--stride", "4", "--threads", "1", "--val-fraction", "0.25"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and history[-1]["step"] == 6  # 3 batches per epoch on each rank
    model, _, meta = load_checkpoint(out / "last.pt", kind=kind)
    assert meta["train_args"]["batch_size"] == 8
    # Both ranks hold identical weights (DDP averaged every gradient): each prints a parameter checksum.
    sums = dict(re.findall(r"rank-checksum (\d+) ([0-9.]+)", done.stdout))  # the ranks' lines may interleave
    assert set(sums) == {"0", "1"} and len(set(sums.values())) == 1, done.stdout[-2000:]
    assert torch.isfinite(torch.cat([p.flatten() for p in model.parameters()])).all()


def test_detector_exact_share_reports_that_share_of_windows_exactly():
    """Windows drawn exact carry the true pixels at confidence 1; the rest keep their errors; off by default."""
    uv = torch.from_numpy(np.stack([np.linspace(100, 140, 17), np.linspace(100, 400, 17)], axis=-1))
    uv = uv[None, None].repeat(4000, 3, 1, 1)  # (B, T, J, 2)
    draws = TorchDraws(generator("cpu", 0, 0), len(uv), uv.dtype)
    noisy, conf = DetectorModel(exact_share=0.25).detect(uv.clone(), draws, ())
    exact = (noisy == uv).all(dim=(1, 2, 3))  # (B,)
    assert abs(float(exact.double().mean()) - 0.25) < 0.03
    assert bool((conf[exact] == 1).all()) and bool((conf[~exact] < 1).any())
    plain, _ = DetectorModel().detect(uv.clone(), TorchDraws(generator("cpu", 0, 0), len(uv), uv.dtype), ())
    assert not bool((plain == uv).all(dim=(1, 2, 3)).any())  # the default recipe has no exact window


def test_detector_exact_share_out_of_range_is_refused():
    with pytest.raises(ValueError, match="exact_share"):
        DetectorModel(exact_share=1.5)
    with pytest.raises(ValueError, match="exact_share"):
        DetectorModel(exact_share=-0.1)
