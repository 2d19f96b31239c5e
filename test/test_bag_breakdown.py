"""tools/bag_breakdown.py (MODEL_CARD round 7): the per-track / depth / axis / joint split of a run's errors, on
constructed runs whose errors are known."""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from mpm_ros.bags.run_data import Prediction, RunData

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import bag_breakdown  # noqa: E402

PERIOD = 33_333_333


def run_with(offset_mm: dict[int, np.ndarray], depth_m: dict[int, float], frames: int = 5) -> RunData:
    """Two tracks; track t's outputs are the truth with every non-root joint moved by offset_mm[t] (3,), its root
    depth_m[t] away; one output has no truth (not scored)."""
    rng = np.random.default_rng(0)
    truth, predictions = {}, []
    for t in offset_mm:
        for f in range(frames):
            pose = rng.normal(scale=0.3, size=(17, 3)) + [0.0, 0.0, depth_m[t]]
            pose[0] = [0.0, 0.0, depth_m[t]]
            truth[(f * PERIOD, t)] = pose
            lifted = pose - pose[0]
            lifted[1:] += offset_mm[t] / 1000.0
            predictions.append(Prediction(f * PERIOD, f * PERIOD, t, lifted + [5.0, 5.0, 5.0]))  # any root
    predictions.append(Prediction(frames * PERIOD, frames * PERIOD, 1, np.zeros((17, 3))))  # no truth there
    return RunData(predictions=predictions, ground_truth=truth, inputs_per_track=Counter(),
                   input_stamps=set(), output_messages=[])


def test_each_row_splits_known_errors():
    run = run_with({1: np.array([0.0, 0.0, 32.0]), 2: np.array([0.0, 16.0, 0.0])}, {1: 5.5, 2: 7.5})
    rows = bag_breakdown.breakdown(run, depths=(6.0, 7.0))
    per_joint = 16 / 17  # the root is never off
    assert np.isclose(rows["all"][0], 24.0 * per_joint) and rows["all"][1] == 10  # the one without a truth is out
    assert np.isclose(rows["track 1 (5.5 m)"][0], 32.0 * per_joint) and rows["track 1 (5.5 m)"][1] == 5
    assert np.isclose(rows["track 2 (7.5 m)"][0], 16.0 * per_joint)
    assert np.isclose(rows["root -inf-6 m deep"][0], 32.0 * per_joint)
    assert np.isclose(rows["root 7-inf m deep"][0], 16.0 * per_joint) and "root 6-7 m deep" not in rows
    assert np.isclose(rows["axis x (mean |error|)"][0], 0.0)
    assert np.isclose(rows["axis y (mean |error|)"][0], 8.0 * per_joint)
    assert np.isclose(rows["axis z (mean |error|)"][0], 16.0 * per_joint)
    assert np.isclose(rows["head"][0], 24.0) and "pelvis" not in rows


def test_the_table_has_a_column_per_checkpoint_and_marks_missing_rows():
    near = bag_breakdown.breakdown(run_with({1: np.array([3.0, 4.0, 0.0])}, {1: 5.0}))
    far = bag_breakdown.breakdown(run_with({1: np.zeros(3), 2: np.zeros(3)}, {1: 5.0, 2: 8.0}))
    lines = bag_breakdown.table({"a": near, "b": far}).splitlines()
    assert lines[0] == "| row | outputs | a | b |"
    head = [line for line in lines if line.startswith("| head |")][0]
    assert head == "| head | 5 | 5.0 | 0.0 |"
    assert [line for line in lines if line.startswith("| track 2")][0].endswith("| - | 0.0 |")


def test_no_scored_output_is_an_empty_breakdown():
    run = RunData(predictions=[Prediction(0, 0, 1, np.zeros((17, 3)))], ground_truth={}, inputs_per_track=Counter(),
                  input_stamps=set(), output_messages=[])
    assert bag_breakdown.breakdown(run) == {}
