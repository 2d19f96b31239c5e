"""Issue 24, the node's lag: no stage between the mocap and the report's lag moves the outputs against the truth.

A make_bag bag with exact 2D goes through StreamingLifter (mpm_ros.bags.offline_run: window buffer, emission stamps,
placement) and the report's lag. The lifter is replaced by a look-up that answers each window with the truth of the
bag frame whose exact projection its target frame shows. So the lag is 0 unless make_bag shifts the 2D against the
3D, the window buffer stamps an output with another frame than the one it describes, or the report aligns outputs
and truth wrongly; and a look-up that answers for the frame before reads exactly one frame late (the sign).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mpm_model.config import ModelConfig
from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.skeleton import flip_pose
from mpm_model.streaming import LifterOptions
from mpm_model.streaming.temporal import TemporalOptions
from mpm_model.untrained import random_checkpoint, tiny_config
from mpm_ros.bags import bag_io
from mpm_ros.bags.make_bag import make_bag
from mpm_ros.bags.offline_run import offline_run
from mpm_ros.bags.report import LAGS, compute_report


class TruthLookup:
    """A backend that answers each window with the root-relative truth of the bag frame whose exact projection is
    nearest the 2D of window frame `target_index - late` (late = 0: the frame it is stamped with); a window of the
    mirror image (mirrored lifting, on by default) with the mirror image of that truth, so the mean is the truth."""

    def __init__(self, config: ModelConfig, bag: Path, late: int = 0) -> None:
        self.config, self.late = config, late
        data = bag_io.read_topics(bag, [bag_io.CAMERA_INFO_TOPIC, bag_io.GROUND_TRUTH_TOPIC])
        info = data[bag_io.CAMERA_INFO_TOPIC][0][1]
        k, width, height = np.asarray(info.k).reshape(3, 3), info.width, info.height
        joints = np.array([[[p.x, p.y, p.z] for p in s.joints] for _, m in data[bag_io.GROUND_TRUTH_TOPIC]
                           for s in m.skeletons])  # (N, J, 3) camera frame
        pixels = joints[..., :2] / joints[..., 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]  # (N, J, 2)
        self.screen = pixels / width * 2.0 - [1.0, height / width]  # (N, J, 2) the window buffer's coordinates
        self.pose = (joints - joints[:, :1]).astype(np.float32)  # (N, J, 3)
        self.screen, self.pose = np.concatenate([self.screen, flip_pose(self.screen)]), np.concatenate(
            [self.pose, flip_pose(self.pose)])  # (2N, J, ...): the frames as seen, then mirrored

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        shown = keypoints[:, self.config.target_index - self.late]  # (B, J, 2)
        distance = ((shown[:, None] - self.screen[None]) ** 2).sum(axis=(-1, -2))  # (B, 2N)
        return self.pose[distance.argmin(axis=1)][:, None]  # (B, 1, J, 3)


@pytest.fixture(scope="module", params=[30.0, 60.0], ids=["clip30", "clip60"])
def exact_bag(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exact 2D (no jitter, no occlusion), two people (the second enters late), whole-person dropouts: runs. The
    60 Hz clip is resampled to the bag's 30 Hz by make_bag (2D and 3D must move together)."""
    base = tmp_path_factory.mktemp("lag")
    write_mocap(base / "clip.npz", synthetic_sequences(2, int(4 * request.param), fps=request.param, seed=3))
    make_bag(base / "clip.npz", base / "bag", people=2, fps=30.0, duration=4.0, noise_px=0.0, occlusion=0.0,
             dropout=0.05, seed=2)
    return base / "bag"


@pytest.mark.parametrize("config", [tiny_config(9), tiny_config(9, causal=False), tiny_config(9, lookahead=2)],
                         ids=["causal", "centred", "lookahead2"])
def test_outputs_of_their_own_frame_have_lag_zero(exact_bag: Path, config: ModelConfig) -> None:
    report = compute_report(offline_run(exact_bag, TruthLookup(config, exact_bag)))
    motion = report["motion"]
    assert report["matched_skeletons"] > 150 and report["mpjpe_mm"] < 1e-3
    assert motion["lag_frames"] == 0 and motion["lag_outputs"] > 100
    curve = motion["mpjpe_by_shift_mm"]
    assert curve["0"] < 1e-3 and min(v for s, v in curve.items() if s != "0") > 1.0


@pytest.mark.parametrize("late", [1, 2])
def test_an_answer_for_an_earlier_frame_is_that_many_frames_late(exact_bag: Path, late: int) -> None:
    """+s in the report = the output shows the pose of s frames before its stamp."""
    report = compute_report(offline_run(exact_bag, TruthLookup(tiny_config(9), exact_bag, late)))
    assert report["motion"]["lag_frames"] == late and report["motion"]["mpjpe_by_shift_mm"][str(late)] < 1.0
    assert LAGS[0] < 0 < late < LAGS[-1]


def test_a_one_frame_pose_lead_takes_one_frame_of_lag_back(exact_bag: Path) -> None:
    """A look-up one frame late, carried 1/30 s ahead (pose_lead) along its velocity over the last outputs: lag 0."""
    options = LifterOptions(temporal=TemporalOptions(pose_lead=1 / 30))
    report = compute_report(offline_run(exact_bag, TruthLookup(tiny_config(9), exact_bag, 1), options))
    assert report["motion"]["lag_frames"] == 0


def test_lag_probe_prints_a_row_per_bag(exact_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """tools/lag_probe.py on a tiny random lifter (no refiner is trained for it): one row, a cell per shift."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import lag_probe

    checkpoint = random_checkpoint(tmp_path / "tiny.pt", tiny_config(9))
    lag_probe.main(["--bag", str(exact_bag), "--checkpoint", str(checkpoint), "--backend", "torch", "--set",
                    "pose_lead", "0.0333", "--gap-fill", "0"])
    out = capsys.readouterr().out
    assert "pose refiner: no pose refiner was trained for these lifter weights" in out  # not unreadable weights
    assert out.splitlines()[0].endswith(", pose_lead 0.0333, gap_fill_frames 0")
    cells = [line for line in out.splitlines() if line.startswith("| bag: library")][0].strip("|").split("|")
    lag = int(cells[4].replace("(edge)", ""))
    assert len(cells) == 5 + len(LAGS) and lag in LAGS and ("(edge)" in cells[4]) == (lag in (LAGS[0], LAGS[-1]))
    assert min(float(c) for c in cells[5:]) == pytest.approx(float(cells[5 + LAGS.index(lag)]))
