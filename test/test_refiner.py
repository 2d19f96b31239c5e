"""The learned pose refiner (pure): a linear causal map over the last K lifted frames and the last M frames' 2D
present; it never looks ahead; a gap is held, a restart pads; it is handed out only for the lifter weights it was
trained for (sha256); the shipped weights load and fit their history."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mpm_model.checkpoint import resolve
from mpm_model.files import file_sha256
from mpm_model.streaming.refiner import (GATE_CEILING_M, GATE_FLOOR_M, HISTORY, PoseRefiner, RefinerWeights,
                                         load_refiner, present_2d, refine, refiner_for, refiner_name, row_median,
                                         weight_files)
from mpm_ros.backend_setup import pose_refiner

PERIOD = 33_333_333
J = 17
K = 8  # the pure tests' history (a weights file sets its own; the shipped one HISTORY)


def weights(seed: int = 0, scale: float = 0.01) -> RefinerWeights:
    rng = np.random.default_rng(seed)
    return RefinerWeights(rng.normal(scale=scale, size=(K * J * 3, J * 3)).astype(np.float32),
                          rng.normal(scale=scale, size=J * 3).astype(np.float32), "lifter", "ab" * 32)


def run(refiner: PoseRefiner, frames: np.ndarray, stamps: list[int]) -> np.ndarray:
    return np.array([refiner.filter(s, (5,), f[None])[0] for s, f in zip(stamps, frames)])


def test_zero_weights_are_the_identity() -> None:
    zero = RefinerWeights(np.zeros((K * J * 3, J * 3), np.float32), np.zeros(J * 3, np.float32), "l", "s")
    frames = np.random.default_rng(1).normal(size=(12, J, 3))
    np.testing.assert_allclose(run(PoseRefiner(zero), frames, [f * PERIOD for f in range(12)]), frames, atol=1e-6)


def test_causal_a_later_frame_changes_no_earlier_output() -> None:
    frames = np.random.default_rng(2).normal(size=(20, J, 3))
    other = frames.copy()
    other[12:] += 1.0
    stamps = [f * PERIOD for f in range(20)]
    a, b = run(PoseRefiner(weights()), frames, stamps), run(PoseRefiner(weights()), other, stamps)
    np.testing.assert_array_equal(a[:12], b[:12])
    assert not np.allclose(a[12:], b[12:])


def test_history_is_the_last_frames_padded_at_a_start() -> None:
    frames = np.random.default_rng(3).normal(size=(K + 3, J, 3))
    refiner = PoseRefiner(weights())
    out = run(refiner, frames, [f * PERIOD for f in range(len(frames))])
    padded = np.concatenate([np.repeat(frames[:1], K - 1, axis=0), frames])
    expected = refine(np.stack([padded[f:f + K] for f in range(len(frames))]), weights())
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_gap_is_held_and_a_restart_pads() -> None:
    frames = np.random.default_rng(4).normal(size=(12, J, 3))
    stamps = [f * PERIOD for f in range(10)] + [12 * PERIOD]  # two frames missing
    refiner = PoseRefiner(weights(), reset_after_s=1.0)
    out = run(refiner, frames[:11], stamps)
    held = np.concatenate([frames[:10], frames[9:10], frames[9:10], frames[10:11]])[-K:]
    np.testing.assert_allclose(out[-1], refine(held[None], weights())[0], atol=1e-5)
    back = refiner.filter(5 * PERIOD, (5,), frames[11][None])[0]  # stamps back: a fresh history
    np.testing.assert_allclose(back, refine(np.repeat(frames[11][None, None], K, 1), weights())[0], atol=1e-5)


def test_handed_out_only_for_its_lifter(tmp_path: Path) -> None:
    """Any pose_refiner_* whose sidecar names the lifter's sha256, whatever its name; else None and why."""
    none, why = refiner_for("ab" * 32, tmp_path)
    assert none is None and "none in" in why
    w = weights()
    weights_path, sidecar = weight_files("pose_refiner_r", tmp_path)
    weights_path.write_text(json.dumps({"weights": w.weights.tolist(), "bias": w.bias.tolist()}))
    sidecar.write_text(json.dumps({"lifter": "mpm_x", "lifter_sha256": "ab" * 32}))
    other_weights, other = weight_files("pose_refiner_s", tmp_path)
    other_weights.write_text(weights_path.read_text())
    other.write_text(json.dumps({"lifter": "mpm_y", "lifter_sha256": "ef" * 32}))
    found, why = refiner_for("ab" * 32, tmp_path)
    assert found is not None and why == "" and found.lifter == "mpm_x"
    np.testing.assert_allclose(found.weights, w.weights, rtol=1e-6)
    assert refiner_for("ef" * 32, tmp_path)[0].lifter == "mpm_y"
    none, why = refiner_for("cd" * 32, tmp_path)
    assert none is None and "pose_refiner_r was trained for mpm_x" in why and "mpm_y" in why
    sidecar.write_text("{")
    missing, why = refiner_for("ab" * 32, tmp_path)
    assert missing is None and "pose_refiner_r unreadable" in why
    assert refiner_name("mpm_t81_causal_la3") == "pose_refiner_t81_causal_la3"
    sidecar.write_text(json.dumps({"lifter": "mpm_x", "lifter_sha256": "ab" * 32}))
    weights_path.write_text(json.dumps({"weights": [[0.0]], "bias": [0.0, 1.0]}))
    with pytest.raises(ValueError, match="history"):
        load_refiner("pose_refiner_r", tmp_path)
    assert "pose_refiner_r unreadable (ValueError" in refiner_for("ab" * 32, tmp_path)[1]


def test_taps_file_is_one_filter_shared_by_every_coordinate(tmp_path: Path) -> None:
    """{"taps": K values}: output = newest + sum_k taps[k] x frame k, the same for every coordinate; K sets the
    history; taps that are no filter are refused."""
    weights_path, sidecar = weight_files("t", tmp_path)
    sidecar.write_text(json.dumps({"lifter": "mpm_x", "lifter_sha256": "ab" * 32}))
    taps = np.array([0.1, -0.3, 0.2], np.float32)
    weights_path.write_text(json.dumps({"taps": taps.tolist(), "joints": J}))
    loaded = load_refiner("t", tmp_path)
    assert loaded.history == 3
    history = np.random.default_rng(5).normal(size=(2, 3, J, 3))
    np.testing.assert_allclose(refine(history, loaded), history[:, -1] + np.einsum("k,nkjc->njc", taps, history),
                               atol=1e-5)
    weights_path.write_text(json.dumps({"taps": [[0.1]], "joints": J}))
    with pytest.raises(ValueError, match="no causal filter"):
        load_refiner("t", tmp_path)
    depth = np.array([0.3, 0.0, -0.1], np.float32)  # {"taps_z": K values}: z's own kernel, x-y keep "taps"
    weights_path.write_text(json.dumps({"taps": taps.tolist(), "taps_z": depth.tolist(), "joints": J}))
    out = refine(history, load_refiner("t", tmp_path))
    np.testing.assert_allclose(out[..., :2], history[:, -1, :, :2] + np.einsum("k,nkjc->njc", taps, history[..., :2]),
                               atol=1e-5)
    np.testing.assert_allclose(out[..., 2], history[:, -1, :, 2] + np.einsum("k,nkj->nj", depth, history[..., 2]),
                               atol=1e-5)
    weights_path.write_text(json.dumps({"taps": taps.tolist(), "taps_z": [0.3], "joints": J}))
    with pytest.raises(ValueError, match="taps_z"):
        load_refiner("t", tmp_path)


SHIPPED = ["mpm_t27_causal", "mpm_t27_causal_la1", "mpm_t81_causal_la3"]  # every shipped lifter has its refiner


@pytest.mark.parametrize("lifter", SHIPPED)
def test_shipped_refiner_loads_and_names_its_lifter(lifter: str) -> None:
    shipped = load_refiner(refiner_name(lifter))
    assert shipped.weights.shape == (HISTORY * J * 3, J * 3) and len(shipped.lifter_sha256) == 64
    assert shipped.lifter == lifter and np.isfinite(shipped.weights).all()
    assert shipped.lifter_sha256 == file_sha256(resolve(lifter))
    sidecar = json.loads(weight_files(refiner_name(lifter))[1].read_text())
    assert len(shipped.present) == sidecar["present"] > 0 and np.isfinite(shipped.present).all()


@pytest.mark.parametrize("checkpoint", [*SHIPPED, ""])
def test_the_node_gets_it_only_for_its_lifter(checkpoint: str, tmp_path: Path) -> None:
    """backend_setup.pose_refiner hashes the checkpoint file: the refiner trained for it, else None with the reason
    the node logs (other weights, or no weights file at all). A copy under another name still finds it."""
    found, why = pose_refiner(checkpoint)
    if not checkpoint:
        assert found is None and "untrained" in why
        return
    assert found is not None and why == "" and found.lifter == checkpoint
    copy = tmp_path / "renamed.pt"
    copy.write_bytes(Path(resolve(checkpoint)).read_bytes())
    assert pose_refiner(str(copy))[0].lifter == checkpoint
    copy.write_bytes(copy.read_bytes() + b"\0")  # other weights
    none, why = pose_refiner(str(copy))
    assert none is None and "no pose refiner was trained for these lifter weights" in why


def lifted_pose(seed: int = 6) -> np.ndarray:
    pose = np.random.default_rng(seed).normal(scale=0.3, size=(J, 3))  # (J, 3) root-relative metres
    return pose - pose[:1]


def pixels_of(pose: np.ndarray, scale: float = 250.0) -> np.ndarray:
    """A weak-perspective image of the pose's x-y at any scale and place: (J, 2) pixels."""
    return pose[:, :2] * scale + [320.0, 240.0]


def test_present_2d_is_what_the_2d_shows_beyond_the_lifted_x_y() -> None:
    """The seen 2D scaled onto the lifted x-y, minus it: 0 when the 2D shows the lifted pose (any scale and place),
    the joint's move when one joint is seen elsewhere; 0 where the joint or the root is masked."""
    pose = lifted_pose()
    mask = np.zeros((1, J), bool)
    np.testing.assert_allclose(present_2d(pixels_of(pose)[None], mask, pose[None])[0], 0.0, atol=1e-12)
    seen = pose.copy()
    seen[7, 0] += 0.08  # the 2D shows joint 7 8 cm further right (within the gate's floor)
    out, gated = present_2d(pixels_of(seen, 90.0)[None], mask, pose[None])  # (1, J, 2), (1, J)
    assert out[0, 7, 0] > 0.06 and np.abs(np.delete(out[0], 7, axis=0)).max() < 0.1 * out[0, 7, 0]  # scale moves
    assert not gated.any()
    mask[0, 7] = True
    assert not present_2d(pixels_of(seen)[None], mask, pose[None])[0][0, 7].any()
    mask[0, 0] = True  # no root: no root-relative 2D at all
    assert not present_2d(pixels_of(seen)[None], mask, pose[None])[0].any()


def test_present_taps_move_x_y_towards_the_seen_2d_never_z() -> None:
    """Zero lifted taps and present taps (0.5, 0.25): the output is the lifted pose plus 0.5 x this frame's and 0.25 x
    the previous frame's present_2d in x-y; z stays the lifted z. Without the 2D the present is unknown (0), and so
    is every frame held over a gap."""
    taps = np.array([0.5, 0.25], np.float32)
    refiner = PoseRefiner(RefinerWeights(np.zeros((K * J * 3, J * 3), np.float32), np.zeros(J * 3, np.float32),
                                         "l", "s", taps))
    pose, seen = lifted_pose(), lifted_pose()
    seen[7, 0] += 0.08
    mask = np.zeros((1, J), bool)
    first = refiner.filter(0, (5,), pose[None], pixels_of(seen)[None], mask)[0]
    second = refiner.filter(PERIOD, (5,), pose[None], pixels_of(seen)[None], mask)[0]
    present = present_2d(pixels_of(seen)[None], mask, pose[None])[0][0]  # (J, 2)
    assert np.abs(present).max() > 0.06
    np.testing.assert_allclose(first[:, :2], pose[:, :2] + 0.5 * present, atol=1e-6)
    np.testing.assert_allclose(second[:, :2], pose[:, :2] + 0.75 * present, atol=1e-6)
    np.testing.assert_array_equal(second[:, 2], pose[:, 2])
    after_gap = refiner.filter(3 * PERIOD, (5,), pose[None])[0]  # no 2D given, one frame held before it
    np.testing.assert_allclose(after_gap, pose, atol=1e-6)


def test_present_taps_are_read_from_the_file(tmp_path: Path) -> None:
    weights_path, sidecar = weight_files("p", tmp_path)
    sidecar.write_text(json.dumps({"lifter": "mpm_x", "lifter_sha256": "ab" * 32}))
    weights_path.write_text(json.dumps({"taps": [0.1, 0.2], "joints": J, "present": [0.3, -0.1, 0.05]}))
    np.testing.assert_allclose(load_refiner("p", tmp_path).present, [0.3, -0.1, 0.05], atol=1e-7)
    weights_path.write_text(json.dumps({"taps": [0.1, 0.2], "joints": J, "present": [[0.3]]}))
    with pytest.raises(ValueError, match="present taps"):
        load_refiner("p", tmp_path)


def test_present_2d_of_bad_2d_is_bounded_and_finite() -> None:
    """NaN or inf at any joint (masked or not), every joint on one pixel, huge values, wild in-image points: never
    NaN, never beyond the gate's ceiling, so bad 2D cannot throw a joint far."""
    pose = lifted_pose()
    mask = np.zeros((1, J), bool)
    for bad in (np.nan, np.inf, -np.inf, 1e300):
        pixels = pixels_of(pose)
        pixels[4] = bad
        out, gated = present_2d(pixels[None], mask, pose[None])
        assert np.isfinite(out).all() and not out[0, 4].any()
        np.testing.assert_allclose(out, 0.0, atol=1e-9)  # the others still show the lifted pose
        pixels[0] = bad  # the root itself: no root-relative 2D at all
        assert not present_2d(pixels[None], mask, pose[None])[0].any()
    same = np.full((1, J, 2), 100.0)
    assert not present_2d(same, np.zeros((1, J), bool), pose[None])[0].any()
    rng = np.random.default_rng(7)
    for wild in (rng.uniform(0, 640, (50, J, 2)), rng.uniform(-1e200, 1e200, (50, J, 2))):
        out, gated = present_2d(wild, np.zeros((50, J), bool), np.repeat(pose[None], 50, axis=0))  # (50, J, 2)
        assert np.isfinite(out).all() and (np.linalg.norm(out, axis=-1) <= GATE_CEILING_M + 1e-9).all()
        assert gated.any()


def walker(frames: int, seed: int = 3) -> np.ndarray:
    """(F, J, 3) a lifted pose swaying a little: its 2D (pixels_of) disagrees with it by the noise of a real lift."""
    rng = np.random.default_rng(seed)
    sway = 0.05 * np.sin(np.arange(frames) / 5.0)[:, None, None] * rng.normal(size=(1, J, 3))
    pose = lifted_pose() + sway
    return pose - pose[:, :1]


def test_a_100_px_outlier_moves_the_output_by_less_than_2_cm_and_is_counted() -> None:
    """The shipped refiner, a person 5 m away (f = 1,145 px: 229 px per metre), 2D with 2 cm of lifting error per
    coordinate (the frame's median |present| 3.4 cm; 3.0-3.5 cm on the test caches). One frame's wrist 100 px off
    (0.44 m, beyond 10× that median): ungated it would move that wrist by 0.44 × the largest present tap (round 3:
    0.139 = 6 cm, round 7: 0.162 = 7 cm, round 12: 0.106 = 4.7 cm) in one output; gated it gets no present term
    that frame, so no output moves by more than a tap × its clean present (< 2 cm), and the gate counts it once. A
    masked wrist gets no present term at all."""
    shipped = load_refiner(refiner_name("mpm_t27_causal"))
    frames, noise = walker(20), np.random.default_rng(4).normal(scale=0.02, size=(20, J, 2))
    clean = np.array([pixels_of(f[:, :2] + n[:, :2], 229.0) for f, n in zip(frames, noise)])  # (F, J, 2)
    bad = clean.copy()
    bad[10, 16, 0] += 100.0
    mask = np.zeros((1, J), bool)
    outputs, counts = {}, {}
    for name, pixels in (("clean", clean), ("bad", bad)):
        refiner, counts[name] = PoseRefiner(shipped), Counter()
        outputs[name] = np.array([refiner.filter(f * PERIOD, (5,), frames[f][None], pixels[f][None], mask,
                                                 counts[name])[0] for f in range(20)])
    moved = np.linalg.norm(outputs["bad"] - outputs["clean"], axis=-1)  # (F, J)
    assert moved[10, 16] > 0 and moved.max() < 0.02 and not moved[:10].any()
    assert counts["bad"]["refiner.present_gated"] == counts["clean"]["refiner.present_gated"] + 1
    assert 0.44 * np.abs(shipped.present).max() > 0.02  # ungated: beyond the bound the gated outputs stay under
    refiner, masked = PoseRefiner(RefinerWeights(np.zeros_like(shipped.weights), shipped.bias, "l", "s",
                                                 shipped.present)), np.zeros((1, J), bool)
    masked[0, 16] = True
    for f in range(3):
        out = refiner.filter(f * PERIOD, (5,), frames[f][None], bad[10][None], masked)[0]
        np.testing.assert_array_equal(out[16], frames[f][16])


def test_whatever_the_2d_the_present_term_adds_at_most_its_taps_times_the_ceiling() -> None:
    """Random, wild, huge or NaN 2D through the shipped present taps (no lifted taps): every output joint stays
    within sum |taps| × GATE_CEILING_M (0.34 m: round 7's 16 taps) of the lifted pose, and finite."""
    shipped = load_refiner(refiner_name("mpm_t27_causal"))
    refiner = PoseRefiner(RefinerWeights(np.zeros_like(shipped.weights), np.zeros_like(shipped.bias), "l", "s",
                                         shipped.present))
    rng, pose = np.random.default_rng(9), lifted_pose()
    bound = np.abs(shipped.present).sum() * GATE_CEILING_M
    for f in range(40):
        pixels = rng.uniform(-1e4, 1e4, (1, J, 2)) if f % 2 else rng.uniform(0, 640, (1, J, 2))
        pixels[0, rng.integers(J)] = [np.nan, np.inf][f % 2]
        out = refiner.filter(f * PERIOD, (5,), pose[None], pixels, np.zeros((1, J), bool))[0]
        assert np.isfinite(out).all() and (np.linalg.norm(out - pose, axis=-1) <= bound + 1e-9).all()
    assert bound < 0.35 and GATE_FLOOR_M < GATE_CEILING_M




def test_row_median_is_the_median_of_each_rows_valid_values() -> None:
    rng = np.random.default_rng(11)
    values, valid = rng.normal(size=(300, J)), rng.random((300, J)) < 0.5
    valid[:3] = [np.zeros(J, bool), np.eye(J, dtype=bool)[4], np.ones(J, bool)]  # none, one, all
    expected = [np.median(v[m]) if m.any() else np.nan for v, m in zip(values, valid)]
    np.testing.assert_allclose(row_median(values, valid), expected, equal_nan=True)
