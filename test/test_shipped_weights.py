"""The shipped real-data weights: loadable by name, licensed, ≤ 30 MB, trained at 30 Hz on the shared file, and
the default causal T=27 lifter is accurate on real held-out motion (bounds justified in docs/MODEL_CARD.md)."""
from pathlib import Path

import pytest
import torch

from mpm_model.checkpoint import WEIGHTS_DIR, list_pretrained, load_checkpoint, read_config
from mpm_model.data.mocap import dataset_hash
from mpm_model.shipping import MAX_DEVIATION_MM, reference_deviation_mm
from mpm_model.evaluation import EvalOptions, evaluate, select_sequences

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "mpm_model/assets/demo_clip.npz"  # cut from the real test slice (tools/make_demo_clip.py)
SHARED = ROOT.parent / "shared/data"
SHIPPED = {"mpm_t27_causal": (27, True, 0), "mpm_t27_causal_la1": (27, True, 1), "mpm_t81_causal_la3": (81, True, 3)}
# MPJPE bounds (mm), about 1.25× what the shipped model measured (docs/MODEL_CARD.md, "Tests").
CLIP_BOUND_MM = 80.0  # measured 63.6 (2026-12-07 weights, round 7; 70.1 the 2026-12-05 ones)
SLICE_BOUND_MM = 68.0  # measured 54.0 (2026-12-07 weights, round 7; 57.9 the 2026-12-05 ones)


def test_every_shipped_file_is_named_licensed_and_small():
    assert set(list_pretrained("lifter")) == set(SHIPPED)
    assert list_pretrained("pretrain") == ["mpm_pretrain_t27_causal"]
    train_file = SHARED / "mocap_h36m17_train.npz"
    for name in [*SHIPPED, "mpm_pretrain_t27_causal"]:
        assert (WEIGHTS_DIR / f"{name}.pt").stat().st_size <= 30e6
        _, cfg, meta = load_checkpoint(name)
        assert read_config(name) == cfg
        assert "CC BY-NC 4.0" in meta["licence"] and cfg.fps == 30.0 and meta["optimizer"] is None
        if name in SHIPPED:
            assert (cfg.window, cfg.causal, cfg.lookahead) == SHIPPED[name]
        if train_file.is_file():
            assert meta["data_hash"] == dataset_hash(train_file)


@pytest.mark.parametrize("name", [*SHIPPED, "mpm_pretrain_t27_causal"])
def test_half_precision_weights_reproduce_their_float32_outputs(name):
    """Each file is stored in half precision and carries the float32 outputs of the model it was shipped from on
    windows of the demo clip: loaded now, it must reproduce them within MAX_DEVIATION_MM (retrained weights too)."""
    torch.set_num_threads(1)
    _, _, meta = load_checkpoint(name)
    assert meta["storage"] == "float16" and meta["reference"]["clip"] == "demo_clip.npz"
    outputs = meta["reference"]["outputs"]
    assert len(meta["reference"]["windows"]) == 3 and float(outputs.std()) > 0.05  # real poses, not zeros
    assert reference_deviation_mm(name) <= MAX_DEVIATION_MM


def _mpjpe(data: Path, opts: EvalOptions) -> float:
    torch.set_num_threads(1)
    model, cfg, _ = load_checkpoint("mpm_t27_causal", kind="lifter")
    return evaluate(model, cfg, select_sequences(str(data), "all", 0.15, 0), opts)["metrics"]["mpjpe_mm"]


def test_default_lifter_on_the_bundled_real_clip():
    assert _mpjpe(CLIP, EvalOptions(stride=8, run=2)) < CLIP_BOUND_MM


@pytest.mark.skipif(not (SHARED / "mocap_h36m17_test_slice.npz").is_file(), reason="shared test slice absent")
def test_default_lifter_on_the_test_slice():
    assert _mpjpe(SHARED / "mocap_h36m17_test_slice.npz", EvalOptions(stride=16, run=2)) < SLICE_BOUND_MM


def test_mirrored_lifting_of_the_default_is_better_on_the_bundled_real_clip():
    """EvalOptions.mirror (the node's mirror_max_tracks): the default lifter's mirrored mean beats its own answer
    (measured 61.1 against 62.4 mm; test slice 52.0 against 52.7, docs/MODEL_CARD.md round 11)."""
    plain = _mpjpe(CLIP, EvalOptions(stride=8, run=2))
    assert _mpjpe(CLIP, EvalOptions(stride=8, run=2, mirror=True)) < plain - 0.5
