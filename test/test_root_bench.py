"""root_bench (library only, no ROS): every sequence is a person under every camera, the windows are the
WindowBuffer's, seeded (every lifter gets the same 2D inputs), two lifters compare person by person, and the
scores (error, per-person medians, distance bias) are what they claim."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.untrained import random_checkpoint, tiny_config
from mpm_ros.bags import root_bench


@pytest.fixture(scope="module")
def mocap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mocap") / "clip.npz"
    write_mocap(path, synthetic_sequences(3, 50, fps=30.0, seed=2))
    return path


def test_every_sequence_under_every_camera_as_the_window_buffer_builds_it(mocap: Path) -> None:
    persons = root_bench.people(mocap, window=9, target_index=8, max_frames=40, seed=0)
    assert sorted((p.name, p.camera) for p in persons) == sorted(
        (f"synthetic_{s:03d}", c) for s in range(3) for c in root_bench.CAMERAS)
    for p in persons:
        assert p.keypoints.shape[1:] == (9, 17, 2) and len(p.keypoints) == len(p.stamps) == len(p.true_root)
        assert p.mask[0, :8].all()  # a new track starts with masked padding, as in the node
        assert 0 < len(p.stamps) <= 40 and (np.diff(p.stamps) > 0).all()
    again = root_bench.people(mocap, window=9, target_index=8, max_frames=40, seed=0)
    assert all(np.array_equal(a.keypoints, b.keypoints) for a, b in zip(persons, again))  # seeded


def test_scores_read_a_known_distance_bias(mocap: Path) -> None:
    persons = root_bench.people(mocap, window=9, target_index=8, max_frames=40, seed=0)
    scored = root_bench.score(persons, [p.true_root * 1.1 for p in persons])  # every root 10 % too far
    for camera in (*root_bench.CAMERAS, "all"):
        assert scored[camera]["bias_pct"] == pytest.approx(10.0)
    distances = np.concatenate([np.linalg.norm(p.true_root, axis=-1) for p in persons])
    assert scored["all"]["median_mm"] == pytest.approx(100 * np.median(distances), rel=1e-6)
    assert scored["all"]["people"] == 2 * scored["h36m"]["people"] == 6


def test_two_lifters_compare_person_by_person(mocap: Path, tmp_path: Path) -> None:
    a, b = (str(random_checkpoint(tmp_path / f"tiny{seed}.pt", tiny_config(), seed=seed)) for seed in (0, 1))
    results = root_bench.run([a, b], ["confidence", "refined"], mocap, max_frames=30, seed=0, backend_name="torch")
    assert list(results) == [a, b] and set(results[a]) == {"confidence", "refined"}
    assert results[a]["refined"]["raw"]["all"] != results[a]["confidence"]["raw"]["all"]  # another pose was fitted
    assert set(results[a]["confidence"]) == {"raw", "filter", "by_age"}
    assert "| tiny0 | confidence | filter | all | 6 |" in root_bench.table(results)
    assert "tiny1 vs tiny0, confidence, filter, all: lower for" in root_bench.paired(results)
    assert " of 6 people" in root_bench.paired(results)
    ages = results[a]["confidence"]["by_age"]
    assert list(ages) == ["0-10", "10-32", "32-64", "64+"]
    assert all(age["size_ratio"] == pytest.approx(1.0) for age in ages.values() if age["outputs"])  # its own pose
    assert ages["64+"] == {"outputs": 0, "median_mm": None, "p90_mm": None, "size_ratio": None}  # 30 frames
    assert "| tiny0 | confidence |" in root_bench.age_table(results)


def test_refined_fits_at_the_lifters_size(mocap: Path, tmp_path: Path) -> None:
    """refined-size fits the refined shape at the lifted size frame by frame; refined-held holds it after the
    warm-up; the refined pose itself has its own size."""
    lifter = str(random_checkpoint(tmp_path / "tiny.pt", tiny_config(), seed=0))
    results = root_bench.run([lifter], ["refined", "refined-size", "refined-held"], mocap, max_frames=40, seed=0,
                             backend_name="torch")
    ratios = {fit: [a["size_ratio"] for a in results[lifter][fit]["by_age"].values() if a["outputs"]]
              for fit in results[lifter]}
    assert ratios["refined-size"] == pytest.approx([1.0] * len(ratios["refined-size"]))
    assert ratios["refined"] != pytest.approx([1.0] * len(ratios["refined"]))
    assert ratios["refined-held"][0] == pytest.approx(1.0)  # before the warm-up: the frame's own size


def test_size_hold_scales_each_frame_to_the_running_median_size() -> None:
    pose = np.zeros((3, 17, 3))
    pose[:, 1:, 0] = np.arange(1, 17) * 0.01  # a chain of joints: the size is what the x spacing makes it
    pose *= np.array([1.0, 2.0, 3.0])[:, None, None]  # sizes s, 2s, 3s → running medians s, 1.5s, 2s
    held = root_bench.size_hold(pose)
    np.testing.assert_allclose(root_bench.bone_sum(held) / root_bench.bone_sum(pose[:1]), [1.0, 1.5, 2.0])


def test_size_hold_waits_for_its_warm_up() -> None:
    pose = np.zeros((4, 17, 3))
    pose[:, 1:, 0] = np.arange(1, 17) * 0.01
    pose *= np.array([1.0, 3.0, 2.0, 4.0])[:, None, None]  # sizes s, 3s, 2s, 4s
    held = root_bench.size_hold(pose, warm_up=2)  # frames 0, 1 unchanged; then medians of s..2s, s..4s
    np.testing.assert_allclose(root_bench.bone_sum(held) / root_bench.bone_sum(pose[:1]), [1.0, 3.0, 2.0, 2.5])
    sizes = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(root_bench.bone_sum(root_bench.at_size(pose, sizes)), sizes)


def test_errors_by_the_outputs_age_in_its_track(mocap: Path) -> None:
    persons = root_bench.people(mocap, window=9, target_index=8, max_frames=40, seed=0)
    estimates = [p.true_root + np.where(np.arange(len(p.stamps)) < 10, 0.5, 0.1)[:, None] * [1, 0, 0] for p in persons]
    ratios = [np.where(np.arange(len(p.stamps)) < 10, 0.9, 1.0) for p in persons]
    ages = root_bench.by_age(persons, estimates, ratios)
    assert ages["0-10"]["median_mm"] == pytest.approx(500) and ages["0-10"]["size_ratio"] == pytest.approx(0.9)
    assert ages["10-32"]["p90_mm"] == pytest.approx(100) and ages["10-32"]["size_ratio"] == pytest.approx(1.0)
    assert ages["0-10"]["outputs"] == 10 * len(persons)


def test_set_pairs_become_temporal_options() -> None:
    options = root_bench.temporal_options([("root_fit_conditioning", "0"), ("root_reacquire", "3"),
                                           ("root_filter", "false")])
    assert (options.root_fit_conditioning, options.root_reacquire, options.root_filter) == (0.0, 3, False)
    with pytest.raises(ValueError, match="not a TemporalOptions field"):
        root_bench.temporal_options([("root_fit_spread", "1")])
    with pytest.raises(ValueError, match="root_fit_conditioning"):
        root_bench.temporal_options([("root_fit_conditioning", "5")])
    with pytest.raises(ValueError, match="true or false"):
        root_bench.temporal_options([("root_filter", "True")])  # was read as false


@pytest.mark.parametrize("module", ["root_bench", "placement_eval"])
def test_a_bad_set_is_refused_before_any_work(module: str, capsys: pytest.CaptureFixture) -> None:
    import importlib

    main = importlib.import_module(f"mpm_ros.bags.{module}").main
    with pytest.raises(SystemExit) as exited:
        main(["--bag", "/nonexistent", "--set", "root_gate", "0.5"] if module == "placement_eval"
             else ["--set", "root_gate", "0.5"])
    assert exited.value.code == 2 and "root_gate" in capsys.readouterr().err
