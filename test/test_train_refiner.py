"""tools/train_refiner.py's 2D present (issue 24 round 3): the histories it fits on are the streaming refiner's,
and on outputs one frame late whose 2D shows the present, the fitted present taps take the lag away; a look-ahead
lifter's outputs are paired with the frame they answer for."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

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
    lines = [line for line in capsys.readouterr().out.splitlines() if "{" in line]
    alone, refined, blind = (eval(line[line.index("{"):], {"np": np}) for line in lines[:2] + lines[3:])  # noqa: S307
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
    causal = train_refiner.lift(TargetFrame2D(0), poses, np.random.default_rng(3), "h36m")
    ahead = train_refiner.lift(TargetFrame2D(3), poses, np.random.default_rng(3), "h36m")
    assert len(ahead[0]) == len(causal[0]) - 3 == 57
    for a, c in zip(ahead, causal):
        np.testing.assert_array_equal(a, c[:57])
