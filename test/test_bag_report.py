"""report on a hand-built output bag whose errors, latencies and gaps are known exactly."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.orientations import joint_orientations
from mpm_model.rotations import quaternion_multiply
from mpm_ros.bags import bag_io
from mpm_ros.bags.make_bag import make_bag
from mpm_ros.bags.report import LAGS, compute_report, format_table, load_run, main
from mpm_ros.bags.run_data import Prediction, RunData

LATENCY_NS = 5_000_000
JOINT_OFFSET_M = 0.017  # added to one joint of track 2 → MPJPE 1 mm
# Track 1 is published placed: even frames "with depth" 50 mm off the true root, odd ones "by reprojection" 200 mm.
DEPTH_OFFSET_M = np.array([0.03, 0.0, 0.04])
REPROJECTION_OFFSET_M = np.array([0.0, 0.0, 0.2])
TURN_10_DEG = np.array([0.0, 0.0, np.sin(np.radians(5.0)), np.cos(np.radians(5.0))])  # track 1's orientations, off
VELOCITY_OFFSET = np.array([0.3, 0.0, 0.4])  # m/s: track 1's published root velocity is the truth's plus this


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Input bag from make_bag; output bag = inputs + ground truth + 'predictions' derived from ground truth."""
    base = tmp_path_factory.mktemp("report")
    write_mocap(base / "clip.npz", synthetic_sequences(2, 90, fps=30.0, seed=0))
    in_bag = base / "in_bag"
    make_bag(base / "clip.npz", in_bag, people=2, fps=10.0, duration=2.0, dropout=0.0, all_visible=True, seed=1)
    store = bag_io.typestore()
    Diag = store.types["diagnostic_msgs/msg/DiagnosticArray"]
    Status = store.types["diagnostic_msgs/msg/DiagnosticStatus"]
    KeyValue = store.types["diagnostic_msgs/msg/KeyValue"]
    out_bag = base / "out_bag"
    writer = bag_io.open_writer(out_bag, "sqlite3")
    topics = [bag_io.KEYPOINTS_TOPIC, bag_io.GROUND_TRUTH_TOPIC, bag_io.SKELETONS3D_TOPIC, bag_io.DIAGNOSTICS_TOPIC]
    conns = {t: writer.add_connection(t, bag_io.KNOWN_TOPIC_TYPES[t], typestore=store) for t in topics}
    data = bag_io.read_topics(in_bag, [bag_io.KEYPOINTS_TOPIC, bag_io.GROUND_TRUTH_TOPIC])
    Quaternion = store.types["geometry_msgs/msg/Quaternion"]
    for frame, ((log, kp), (_, gt)) in enumerate(zip(data[bag_io.KEYPOINTS_TOPIC], data[bag_io.GROUND_TRUTH_TOPIC])):
        writer.write(conns[bag_io.KEYPOINTS_TOPIC], log, store.serialize_cdr(kp, bag_io.SKELETON2D_ARRAY_TYPE))
        writer.write(conns[bag_io.GROUND_TRUTH_TOPIC], log, store.serialize_cdr(gt, bag_io.SKELETON3D_ARRAY_TYPE))
        predicted = []
        for skeleton in gt.skeletons:
            if skeleton.track_id == 2 and frame % 4 == 0:
                continue  # track 2 misses every 4th frame: completeness 15/20
            root = skeleton.joints[0]
            placement = 0
            if skeleton.track_id == 1:  # placed in the camera frame, root off by a known offset
                placement = 2 if frame % 2 == 0 else 1
                dx, dy, dz = DEPTH_OFFSET_M if placement == 2 else REPROJECTION_OFFSET_M
                joints = [type(p)(x=p.x + dx, y=p.y + dy, z=p.z + dz) for p in skeleton.joints]
            else:  # root-relative
                joints = [type(p)(x=p.x - root.x, y=p.y - root.y, z=p.z - root.z) for p in skeleton.joints]
                joints[5] = type(root)(x=joints[5].x + JOINT_OFFSET_M, y=joints[5].y, z=joints[5].z)
            truth = np.array([[p.x, p.y, p.z] for p in skeleton.joints])
            turns = [] if skeleton.track_id == 2 else [  # track 1: every joint 10° off the truth's; track 2: none
                Quaternion(x=x, y=y, z=z, w=w)
                for x, y, z, w in quaternion_multiply(TURN_10_DEG, joint_orientations(truth)).tolist()]
            v = skeleton.root_velocity
            velocity = type(v)(x=v.x + VELOCITY_OFFSET[0], y=v.y + VELOCITY_OFFSET[1], z=v.z + VELOCITY_OFFSET[2])
            predicted.append(type(skeleton)(track_id=skeleton.track_id, joints=joints, confidence=skeleton.confidence,
                                            masked=skeleton.masked, placed=placement > 0, placement=placement,
                                            orientations=turns, has_velocity=skeleton.track_id == 1,
                                            root_velocity=velocity, root_covariance=np.zeros(9)))
        out = type(gt)(header=gt.header, skeletons=predicted)
        writer.write(conns[bag_io.SKELETONS3D_TOPIC], log + LATENCY_NS,
                     store.serialize_cdr(out, bag_io.SKELETON3D_ARRAY_TYPE))
    status = Status(level=b"\x00"[0], name="mpm_lifter: pipeline", message="ok", hardware_id="onnxruntime",
                    values=[KeyValue(key="dropped_total", value="3"), KeyValue(key="dropped.queue_full", value="3"),
                            KeyValue(key="window", value="27"), KeyValue(key="backend", value="onnxruntime")])
    writer.write(conns[bag_io.DIAGNOSTICS_TOPIC], log, store.serialize_cdr(
        Diag(header=gt.header, status=[status]), bag_io.DIAGNOSTIC_ARRAY_TYPE))
    writer.close()
    return in_bag, out_bag


def test_numbers_are_exact(bags: tuple[Path, Path]) -> None:
    report = compute_report(load_run(*bags))
    track1, track2 = report["tracks"]["1"], report["tracks"]["2"]
    assert track1["mpjpe_mm"] == pytest.approx(0.0, abs=1e-6), "root-relative prediction of the truth must score 0"
    assert track2["mpjpe_mm"] == pytest.approx(JOINT_OFFSET_M * 1e3 / 17, rel=1e-5)
    assert (track1["inputs"], track1["outputs"], track1["completeness"]) == (20, 20, 1.0)
    assert (track2["inputs"], track2["outputs"], track2["completeness"]) == (20, 15, 0.75)
    assert report["completeness"] == pytest.approx(35 / 40)
    assert report["latency_ms"]["p50"] == pytest.approx(5.0) and report["latency_ms"]["p99"] == pytest.approx(5.0)
    assert report["output_rate_hz"] == pytest.approx(10.0)
    assert report["stamps_match_inputs"] == 1.0
    assert report["dropped"] == {"dropped_total": 3, "dropped.queue_full": 3}
    assert report["node"] == {"window": 27, "backend": "onnxruntime"}
    assert track1["p_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6) and track2["p_mpjpe_mm"] > 0
    assert report["orientation_deg"] == pytest.approx({"torso": 10.0, "legs": 10.0, "arms": 10.0})
    table = format_table(report)
    assert "0.750" in table and "p50 5.00 ms" in table and "torso 10.0" in table


def test_placement_errors_are_exact(bags: tuple[Path, Path]) -> None:
    """Root position and depth errors of the placed skeletons, per track, per method and over the run."""
    run = load_run(*bags)
    report = compute_report(run)
    true_depth = np.array([run.ground_truth[(p.stamp_ns, 1)][0, 2] for p in run.predictions if p.track_id == 1])
    placement = report["placement"]
    assert (placement["placed"], placement["unplaced"], placement["count"]) == (20, 15, 20)
    assert report["tracks"]["2"]["placement"]["placed"] == 0 and report["tracks"]["2"]["placement"]["count"] == 0
    assert report["tracks"]["2"]["placement"]["root_error_m"]["median"] is None
    err = placement["root_error_m"]
    assert err["median"] == pytest.approx(0.125) and err["mean"] == pytest.approx(0.125)
    assert err["p90"] == pytest.approx(0.2)
    depth, reprojection = placement["by_method"]["depth"], placement["by_method"]["reprojection"]
    assert depth["count"] == reprojection["count"] == 10
    assert depth["root_error_m"]["median"] == pytest.approx(0.05)
    assert reprojection["root_error_m"]["p90"] == pytest.approx(0.2)
    expected_pct = 100 * 0.04 / true_depth[::2]
    assert depth["depth_error_pct"]["mean"] == pytest.approx(expected_pct.mean())
    assert placement["true_depth_m"]["min"] == pytest.approx(true_depth.min())
    table = format_table(report)
    assert "125/125/200" in table and "50/50/50" in table and "200/200/200" in table


def test_motion_is_scored_over_runs_of_consecutive_frames(bags: tuple[Path, Path]) -> None:
    """Track 1 is the truth (root-relative): no velocity error, the truth's jitter. Track 2 misses every 4th frame:
    5 runs of 3 consecutive frames; its constant joint offset has no velocity error either."""
    run = load_run(*bags)
    report = compute_report(run)
    motion1, motion2 = report["tracks"]["1"]["motion"], report["tracks"]["2"]["motion"]
    assert (motion1["frames"], motion2["frames"]) == (20, 15)
    truth = np.array([run.ground_truth[key] - run.ground_truth[key][:1] for key in sorted(run.ground_truth)
                      if key[1] == 1])  # (20, 17, 3)
    expected = 1e3 * np.linalg.norm(np.diff(truth, 2, axis=0), axis=-1).mean()
    assert motion1["acceleration_mm"] == pytest.approx(expected) and motion1["true_acceleration_mm"] == pytest.approx(expected)
    assert motion1["velocity_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert motion2["velocity_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert report["motion"]["frames"] == 35 and "acceleration (jitter)" in format_table(report)
    assert motion1["acceleration_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert motion2["acceleration_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert report["motion"]["lag_frames"] == 0, "outputs of the truth itself: no lag"


def test_lag_and_root_velocity_error(bags: tuple[Path, Path]) -> None:
    """Outputs one frame behind the truth are found one frame late; a root velocity off by a known vector scores
    its length (only skeletons with has_velocity count: track 1's 20)."""
    run = load_run(*bags)
    late = sorted((p for p in run.predictions if p.track_id == 1), key=lambda p: p.stamp_ns)
    for earlier, later in zip(late[::-1][1:], late[::-1]):
        later.joints = earlier.joints.copy()  # each output shows the previous frame's pose
    report = compute_report(run)
    assert report["motion"]["lag_frames"] == 1
    velocity = report["root_velocity"]
    assert velocity["count"] == 20 and velocity["median_m_s"] == pytest.approx(0.5)
    table = format_table(report)
    assert "lag 1 frame(s)" in table and "root velocity error: median 0.500 m/s" in table


def _walk_run(frames: int, late: int, gaps: tuple[int, ...] = (), bad_first: int = 0, step_m: float = 0.01) -> RunData:
    """One track walking a random pose path (root-relative truth, `step_m` per frame and joint) whose output at
    frame i shows the truth of frame i - late; no output at the `gaps` frames; the first `bad_first` outputs of
    each run of consecutive outputs are 0.3 m off at one joint (a fresh window's worse answers)."""
    rng = np.random.default_rng(0)
    truth = np.cumsum(rng.normal(0.0, step_m, (frames, 17, 3)), axis=0)  # (F, J, 3)
    truth -= truth[:, :1]
    stamps = [1_000 + 33 * i for i in range(frames)]
    predictions, since_gap = [], 0
    for i in range(frames):
        if i in gaps:
            since_gap = 0
            continue
        joints = truth[min(max(i - late, 0), frames - 1)].copy()
        joints[5] += 0.3 if since_gap < bad_first else 0.0
        since_gap += 1
        predictions.append(Prediction(stamps[i], stamps[i], 1, joints))
    return RunData(predictions, {(s, 1): t for s, t in zip(stamps, truth)}, Counter({1: frames}), set(stamps),
                   [(p.stamp_ns, p.stamp_ns) for p in predictions])


@pytest.mark.parametrize("late", list(LAGS))
def test_the_lag_of_outputs_shifted_by_k_frames_is_k(late: int) -> None:
    """+k = each output shows the truth of k frames before its stamp (late); -k = of k frames after (early)."""
    motion = compute_report(_walk_run(60, late))["motion"]
    assert motion["lag_frames"] == late and motion["mpjpe_by_shift_mm"][str(late)] == pytest.approx(0.0, abs=1e-9)
    assert motion["lag_at_edge"] == (late in (LAGS[0], LAGS[-1]))
    assert f"lag {late} frame(s)" in format_table(compute_report(_walk_run(60, late)))


def test_every_shift_judges_the_same_outputs() -> None:
    """Worse first outputs after each gap (fresh windows) must not pull the lag: a shift that left out each run's
    first outputs used to win (lag 4 on main for these on-time outputs)."""
    run = _walk_run(200, 0, gaps=(40, 80, 120, 160), bad_first=4, step_m=0.0003)
    motion = compute_report(run)["motion"]
    runs = (40, 39, 39, 39, 39)  # outputs between the gaps
    assert motion["lag_frames"] == 0 and motion["lag_outputs"] == sum(n - (LAGS[-1] - LAGS[0]) for n in runs)
    assert len(motion["mpjpe_by_shift_mm"]) == len(LAGS)


def test_cli_writes_json_and_pngs(bags: tuple[Path, Path], tmp_path: Path) -> None:
    main(["--input", str(bags[0]), "--output", str(bags[1]), "--json-out", str(tmp_path / "r.json"),
          "--plots-dir", str(tmp_path / "plots")])
    assert json.loads((tmp_path / "r.json").read_text())["matched_skeletons"] == 35
    for name in ("snapshot.png", "error_over_time.png", "latency_hist.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 5000, name


def test_ground_truth_falls_back_to_the_input_bag(bags: tuple[Path, Path], tmp_path: Path) -> None:
    """An output bag with only predictions (stamps kept) is scored against the input bag's ground truth."""
    only_outputs = tmp_path / "only_outputs"
    writer = bag_io.open_writer(only_outputs)
    conn = writer.add_connection(bag_io.SKELETONS3D_TOPIC, bag_io.SKELETON3D_ARRAY_TYPE, typestore=bag_io.typestore())
    for _, _, log, raw in bag_io.iter_raw(bags[1], [bag_io.SKELETONS3D_TOPIC]):
        writer.write(conn, log, raw)
    writer.close()
    run = load_run(bags[0], only_outputs)
    assert run.sources == {bag_io.GROUND_TRUTH_TOPIC: str(bags[0]), bag_io.KEYPOINTS_TOPIC: str(bags[0])}
    assert compute_report(run)["matched_skeletons"] == 35


def test_missing_bag_is_a_clear_error(bags: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--input", str(bags[0]), "--output", str(tmp_path / "nope")])
    assert np.isfinite(compute_report(load_run(*bags))["mpjpe_mm"])
