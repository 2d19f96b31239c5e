"""tools/train_refiner.py's 2D present (issue 24 round 3): the histories it fits on are the streaming refiner's,
and on outputs one frame late whose 2D shows the present, the fitted present taps take the lag away; a look-ahead
lifter's outputs are paired with the frame they answer for."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mpm_model.config import ModelConfig
from mpm_model.data.mocap import load_mocap, resample

DEMO_CLIP = Path(__file__).resolve().parents[1] / "mpm_model" / "assets" / "demo_clip.npz"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import train_refiner  # noqa: E402


def test_present_histories_are_newest_first_and_zero_before_the_start() -> None:
    present = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 17, 2))  # frame i holds i
    sequence = np.array([0, 0, 0, 1, 1])
    out = train_refiner.present_histories(present, sequence, 3)  # (5, 3, 17, 2)
    assert out[:, :, 0, 0].tolist() == [[0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 0, 0], [4, 3, 0]]


def test_present_taps_cancel_a_one_frame_lag(tmp_path: Path, capsys) -> None:
    """Lifted = the truth one frame late; the 2D shows the truth's x-y now. The lifter alone reads lag 1; fitted to
    the next frame (--lead 1) with the present the refiner reads lag 0 at a far lower MPJPE, without it not."""
    rng = np.random.default_rng(0)
    truth = np.cumsum(rng.normal(0.0, 0.01, (20, 100, 17, 3)), axis=1)  # (S, F, J, 3) 20 random walks
    truth -= truth[:, :, :1]
    lifted = np.concatenate([truth[:, :1], truth[:, :-1]], axis=1)  # one frame late
    screen = truth[..., :2] * 0.4  # a weak-perspective 2D of the present
    np.savez(tmp_path / "cache.npz", truth=truth.reshape(-1, 17, 3), lifted=lifted.reshape(-1, 17, 3),
             screen=screen.reshape(-1, 17, 2), mask2d=np.zeros((2000, 17), bool),
             sequence=np.repeat(np.arange(20), 100), names=np.array([f"s{i}" for i in range(20)]), checkpoint="x")
    for present in ("2", "0"):  # with the 2D present, and without: a random walk's next step is unpredictable
        train_refiner.main(["fit", "--data", str(tmp_path / "cache.npz"), "--validate", "--history", "4",
                            "--present", present, "--smooth", "0", "--lead", "1"])
    rows = [line.split(" | ")[1].split(" / ") for line in capsys.readouterr().out.splitlines()
            if line.startswith(("| lifter alone", "| refiner"))]  # the "all" column: MPJPE / accel. / lag / δ̂
    alone, refined, blind = ({"mpjpe": float(r[0]), "lag": int(r[2])} for r in rows[:2] + rows[3:])
    assert alone["lag"] == 1 and refined["lag"] == 0 and refined["mpjpe"] < 0.75 * alone["mpjpe"]
    assert blind["lag"] == 1 and blind["mpjpe"] > 0.95 * alone["mpjpe"]


class TargetFrame2D:
    """A stand-in lifter that answers with the 2D of the frame it answers for (x-y, z = 0): which frame each
    output belongs to is then visible in the output."""

    def __init__(self, lookahead: int) -> None:
        self.config = ModelConfig(window=9, causal=True, lookahead=lookahead, stride_schedule=(3, 3))

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:  # (B, T, J, 2) → (B, 1, J, 3)
        seen = keypoints[:, self.config.target_index]
        return np.concatenate([seen, np.zeros_like(seen[..., :1])], -1)[:, None]


def test_a_look_ahead_lifter_is_paired_with_the_frame_it_answers_for() -> None:
    """mpm_t81_causal_la3 answers for the frame 3 before its window's newest: the cache pairs each output with that
    frame's truth and 2D (as the stream does), and leaves out the last 3 frames, which no window answers for."""
    poses = resample(load_mocap(DEMO_CLIP)[0], train_refiner.FPS).poses3d[:60]  # (60, J, 3)
    causal = train_refiner.lift(TargetFrame2D(0), poses, np.random.default_rng(3), "h36m", occlusion=0.0)
    ahead = train_refiner.lift(TargetFrame2D(3), poses, np.random.default_rng(3), "h36m", occlusion=0.0)
    assert len(ahead[0]) == len(causal[0]) - 3 == 57
    for a, c in zip(ahead, causal):
        np.testing.assert_array_equal(a, c[:57])


def test_dropped_frames_give_no_output_and_hold_the_last_one_as_the_streaming_refiner_does() -> None:
    """make_bag's dropouts: a dropped frame is a fully masked step of the windows (it is no observation), it is not
    observed, its lifted pose is the last observed frame's (the refiner holds it over a gap) and its 2D is masked
    (no present); an observed frame is the lifter's own answer."""
    poses = load_mocap(DEMO_CLIP)[0].poses3d[:120]
    truth, lifted, screen, mask, observed = train_refiner.lift(TargetFrame2D(0), poses, np.random.default_rng(0),
                                                                "h36m", occlusion=0.0, dropout=0.3)
    assert 0 < (~observed).sum() < 0.5 * len(observed) and observed[0]
    for f in np.flatnonzero(~observed):
        last = f - 1
        while not observed[last]:
            last -= 1
        np.testing.assert_array_equal(lifted[f], lifted[last])
        assert mask[f].all()
    assert not mask[observed].any() and truth.shape == lifted.shape == (120, 17, 3)
    own = screen[observed] - screen[observed][:, :1]  # (F', J, 2): each observed output is its own frame's answer
    np.testing.assert_allclose(lifted[observed][..., :2], own, atol=1e-6)


def test_the_noise_mix_covers_make_bags_defaults() -> None:
    """--mix: occluded joints drawn in 0-15 % (make_bag: 10 %), dropped frames in 0-4 % (make_bag: 2 %), and about
    30 % of the chunks hide the person for 1.5 s, leaving two parts of at least MIN_FRAMES; without it 5 %, none."""
    import argparse

    rng = np.random.default_rng(0)
    draws = [train_refiner.noise_mix(argparse.Namespace(mix=True), rng, 240) for _ in range(400)]
    occlusion, dropout, hidden = (np.array(d) for d in zip(*draws))
    assert occlusion.min() < 0.01 and 0.14 < occlusion.max() <= 0.15 and 0.1 < np.mean(occlusion > 0.1) < 0.5
    assert dropout.max() <= 0.04 and 0.02 < np.median(dropout) + 0.01
    assert 0.2 < np.mean(hidden > 0) < 0.4
    assert hidden[hidden > 0].min() >= train_refiner.MIN_FRAMES
    assert (hidden[hidden > 0] + train_refiner.HIDDEN_FRAMES <= 240 - train_refiner.MIN_FRAMES).all()
    fixed = argparse.Namespace(mix=False, occlusion=0.1, dropout=0.02)  # `data --occlusion 0.1 --dropout 0.02`
    assert train_refiner.noise_mix(fixed, rng, 240) == (0.1, 0.02, 0)


def test_fit_leaves_out_frames_without_an_output_and_compares_a_weights_file(tmp_path: Path, capsys) -> None:
    """Frames marked not observed (dropped: no output) with a wild truth change neither the fit nor its scores, and
    `--compare` scores a weights file as it is on the same held-out frames."""
    rng = np.random.default_rng(1)
    truth = np.cumsum(rng.normal(0.0, 0.01, (20, 100, 17, 3)), axis=1).reshape(-1, 17, 3)
    truth -= truth[:, :1]
    lifted = truth + rng.normal(0.0, 0.02, truth.shape)  # (2000, J, 3) noisy, on time
    observed = rng.random(2000) > 0.1
    arrays = dict(lifted=lifted, screen=truth[..., :2] * 0.4, mask2d=np.zeros((2000, 17), bool),
                  sequence=np.repeat(np.arange(20), 100), names=np.array([f"s{i}" for i in range(20)]), checkpoint="x")
    np.savez(tmp_path / "clean.npz", truth=truth, observed=observed, **arrays)
    np.savez(tmp_path / "wild.npz", truth=np.where(observed[:, None, None], truth, 10.0), observed=observed, **arrays)
    for cache in ("clean", "wild"):
        train_refiner.main(["fit", "--data", str(tmp_path / f"{cache}.npz"), "--validate", "--history", "4",
                            "--present", "2", "--lead", "0", "--compare", "pose_refiner_t27_causal"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and " / " in line
             and not line.startswith("| output")]
    clean, wild = ([line.split(" | ")[1].split(" / ") for line in lines[i:i + 3]] for i in (0, 3))  # "all" column
    assert lines[2].startswith("| pose_refiner_t27_causal (as it is)")
    assert lines[:3] == lines[3:]
    clean = [{"mpjpe": float(row[0])} for row in clean]
    assert clean[1]["mpjpe"] < clean[0]["mpjpe"] < 40.0  # 2 cm per coordinate: 32 mm alone


def test_retrain_recipe_is_the_shipped_refiners() -> None:
    """`retrain` (RECIPE + FIT_RECIPE) makes what mpm_model/weights ships for mpm_t27_causal: the same caches and
    fit settings as its sidecar records (docs/TEMPORAL.md round 7), on windows bridged as the node (round 12)."""
    import json

    from mpm_model.streaming.options import StreamOptions
    from mpm_model.streaming.refiner import weight_files

    sidecar = json.loads(weight_files("pose_refiner_t27_causal")[1].read_text())
    assert [Path(c).stem for c in sidecar["caches"]] == list(train_refiner.RECIPE)
    fit = train_refiner.FIT_RECIPE
    assert sidecar["depth_taps"] and sidecar["present"] == int(fit[fit.index("--present") + 1])
    assert sidecar["lag_held_at"] == float(fit[fit.index("--lag-target") + 1]) and sidecar["lag_groups"] == "all"
    assert "--zero-lag" in fit and sidecar["smooth"] == float(fit[fit.index("--smooth") + 1])
    assert sidecar["lifter_gap_fill"] == StreamOptions().gap_fill_frames, "fitted on windows bridged as the node's"


class Bent2D(TargetFrame2D):
    """TargetFrame2D with x bent by 0.5 x²: not mirror-symmetric, so only its mirrored mean is the 2D itself."""

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = super().infer(keypoints, mask)
        out[..., 0] += 0.5 * out[..., 0] ** 2
        return out


def test_data_mirror_lifts_as_the_node_and_fit_refuses_mixed_caches(tmp_path: Path) -> None:
    """`data --mirror`: each window also mirrored, the two answers averaged (the node's mirror_max_tracks), on the same
    frames; caches lifted both ways are not fitted together."""
    poses = load_mocap(DEMO_CLIP)[0].poses3d[:60]
    plain = train_refiner.lift(Bent2D(0), poses, np.random.default_rng(2), "h36m", occlusion=0.0)
    mirrored = train_refiner.lift(Bent2D(0), poses, np.random.default_rng(2), "h36m", occlusion=0.0, mirrored=True)
    own = mirrored[2] - mirrored[2][:, :1]  # (F, J, 2) each frame's own 2D, root-relative
    np.testing.assert_allclose(mirrored[1][..., :2], own, atol=1e-6)
    assert np.abs(plain[1][..., :2] - own).max() > 1e-3
    for a, b in zip(plain[2:], mirrored[2:]):  # the same 2D, masks and frames
        np.testing.assert_array_equal(a, b)
    for name, flag in (("plain", False), ("mirrored", True)):
        np.savez(tmp_path / f"{name}.npz", truth=plain[0], lifted=plain[1], screen=plain[2], mask2d=plain[3],
                 observed=plain[4], sequence=np.zeros(len(plain[0]), int), names=np.array(["s"]), checkpoint="x",
                 mirrored=flag)
    with pytest.raises(SystemExit, match="mirrored, some not"):
        train_refiner.load_caches([tmp_path / "plain.npz", tmp_path / "mirrored.npz"])
    assert train_refiner.load_caches([tmp_path / "mirrored.npz"])["mirrored"]


def test_data_bridges_gaps_as_the_node_and_fit_refuses_mixed_caches(tmp_path: Path) -> None:
    """`data --gap-fill` (default: the node's gap_fill_frames): the lifter's windows bridged as StreamingLifter's;
    the cached 2D present stays what the detector saw; caches lifted with other gaps are not fitted together."""
    from mpm_model.streaming.options import StreamOptions

    poses = load_mocap(DEMO_CLIP)[0].poses3d[:60]
    bridged = train_refiner.lift(TargetFrame2D(0), poses, np.random.default_rng(4), "h36m", occlusion=0.1)
    plain = train_refiner.lift(TargetFrame2D(0), poses, np.random.default_rng(4), "h36m", occlusion=0.1, max_gap=0)
    hidden = (plain[3] & plain[4][:, None]).any(-1)  # (F,) answered frames with a hidden joint (the answer's 2D)
    changed = np.abs(bridged[1] - plain[1]).max(axis=(1, 2)) > 1e-6  # (F,)
    assert hidden.sum() > 10 and changed[hidden].mean() > 0.9 and not changed[~hidden].any()
    for a, b in zip(bridged[2:], plain[2:]):  # the same 2D present, masks and frames
        np.testing.assert_array_equal(a, b)
    for name, gaps in (("bridged", StreamOptions().gap_fill_frames), ("plain", 0)):
        np.savez(tmp_path / f"{name}.npz", truth=plain[0], lifted=plain[1], screen=plain[2], mask2d=plain[3],
                 observed=plain[4], sequence=np.zeros(len(plain[0]), int), names=np.array(["s"]), checkpoint="x",
                 mirrored=False, gap_fill=gaps)
    with pytest.raises(SystemExit, match="different --gap-fill"):
        train_refiner.load_caches([tmp_path / "bridged.npz", tmp_path / "plain.npz"])
    assert train_refiner.load_caches([tmp_path / "bridged.npz"])["gap_fill"] == StreamOptions().gap_fill_frames
