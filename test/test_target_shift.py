"""tools/target_shift.py (MPJPE against the truth shifted by -m..+m frames, issue 26): the shift bookkeeping on
known answers, and the whole tool on a tiny checkpoint and synthetic mocap."""
import sys
from pathlib import Path

import pytest
import torch

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.untrained import random_checkpoint, tiny_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import target_shift  # noqa: E402

SLICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap_h36m17_test_slice.npz"


def test_a_pose_of_the_frame_before_is_best_at_minus_one():
    truth = torch.randn(5, 15, 17, 3)  # (B, window + 2·3, J, 3), the model's target frame at 8
    errors = target_shift.window_errors(truth[:, 7], truth, target=8, max_shift=3)
    assert sorted(errors) == [-3, -2, -1, 0, 1, 2, 3]
    assert torch.all(errors[-1] == 0) and all(bool((errors[s] > 0).all()) for s in errors if s != -1)


def test_one_axis_scores_that_axis_alone():
    truth = torch.randn(4, 7, 17, 3)  # (B, window + 2·1, J, 3), the model's target frame at 4
    pred = truth[:, 4].clone()
    pred[..., 2] += 0.01  # 1 cm off in depth only
    for axis, expected in ((0, 0.0), (1, 0.0), (2, 0.01), (None, 0.01)):
        assert torch.allclose(target_shift.window_errors(pred, truth, 4, 1, axis)[0], torch.full((4,), expected))


def test_the_tool_on_a_tiny_checkpoint(tmp_path, capsys):
    seqs = synthetic_sequences(2, 60, fps=30.0, seed=2)
    for i, seq in enumerate(seqs):
        seq.source, seq.subject = "a", f"s{i}"
    data = tmp_path / "clip.npz"
    write_mocap(data, seqs)
    ckpt = random_checkpoint(tmp_path / "tiny.pt", tiny_config(window=9))
    target_shift.main(["--test", str(data), "--lifter", str(ckpt), "--max-shift", "2", "--stride", "8",
                       "--json", str(tmp_path / "shift.json")])
    row = [line for line in capsys.readouterr().out.splitlines() if str(ckpt) in line][0]
    assert len(row.split("|")) == 2 + 5 + 1 + 1 + 1  # model, shifts -2..+2, best, late (the report's sign)
    best, late = (int(cell) for cell in row.split("|")[-3:-1])
    assert late == -best
    assert (tmp_path / "shift.json").is_file()
    target_shift.main(["--test", str(data), "--lifter", str(ckpt), "--max-shift", "1", "--axis", "z"])
    depth = [line for line in capsys.readouterr().out.splitlines() if str(ckpt) in line][0]
    assert float(depth.split("|")[3]) < float(row.split("|")[4])  # |Δz| alone is below the 3D distance at shift 0


def test_the_shipped_look_ahead_1_t27_answers_for_its_own_stamp():
    """Issue 26, round 5 (docs/MODEL_CARD.md): on the bundled real clip `mpm_t27_causal_la1` (round 2's default
    weights, one frame of look-ahead) matches the truth best at its own target frame (measured 63.5 mm, against
    64.3 one frame earlier). The default it was compared with then is replaced (round 7, the next test)."""
    clip = str(Path(__file__).resolve().parents[1] / "mpm_model" / "assets" / "demo_clip.npz")
    torch.set_num_threads(1)
    la1 = target_shift.shift_errors("mpm_t27_causal_la1", clip, max_shift=1, stride=8)
    assert min(la1, key=la1.get) == 0, la1


@pytest.mark.skipif(not SLICE.is_file(), reason="shared test slice absent")
def test_the_shipped_default_answers_for_its_own_stamp_on_the_test_slice():
    """Issue 26, round 7 (docs/MODEL_CARD.md): the default `mpm_t27_causal`, trained with the lag term, matches the
    test slice's exact 2D best at its own target frame (measured 55.2 / 54.2 / 56.3 mm at -1 / 0 / +1; round 2's
    default was 53.9 / 55.4 / 59.6, best at -1). On the bundled clip alone it is not (62.8 at -1 against 63.1 at 0:
    a few seconds of three sequences), so the slice is the test."""
    torch.set_num_threads(1)
    errors = target_shift.shift_errors("mpm_t27_causal", str(SLICE), max_shift=1, stride=8)
    assert min(errors, key=errors.get) == 0, errors
