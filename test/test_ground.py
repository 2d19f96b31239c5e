"""The ground plane (mpm_model.streaming.ground), pure library: a synthetic floor seen by a pitched (or rolled)
camera, people whose 2D fits are off by their own size factor (the whole person scaled about the camera centre, as a
lifted skeleton of the wrong size does to a 2D fit); the floor given by the parameters or as a tf2-style transform."""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from mpm_model.streaming.frames import Transform
from mpm_model.streaming.ground import (ANKLE_HEIGHT_M, ANKLES, FLOOR_SHIFT_M, FLOOR_TILT_DEG, Floor, GroundPlane,
                                        floor_from_pitch, floor_from_transform)
from mpm_model.streaming.placement import DEPTH, REPROJECTION
from mpm_model.streaming.temporal import TemporalOptions

PERIOD = 33_333_333
K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
HEIGHT = 1.5  # camera above the floor, m
SEEN = np.ones((1, 17), bool)
GIVEN = TemporalOptions(ground_plane=True, ground_camera_height=HEIGHT, ground_camera_pitch=10.0, ground_weight=1.0)
FROM_TF = TemporalOptions(ground_plane=True, ground_weight=1.0)  # no height: the floor comes from floor_at


def floor_normal(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The floor's normal (down) in the optical frame (x right, y down, z forward) of a camera pitched down by
    pitch_deg and rolled by roll_deg about its optical axis, in closed form."""
    pitch, roll = np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    return np.array([np.sin(roll) * np.cos(pitch), np.cos(roll) * np.cos(pitch), np.sin(pitch)])


def mount(height: float, pitch_deg: float, roll_deg: float = 0.0, forward: float = 0.3) -> Transform:
    """The floor frame (base_footprint: x forward, y left, z up, on the floor) in the optical frame of a camera
    `height` m up and `forward` m ahead of its origin, pitched down and rolled — what tf2 returns for
    lookup_transform(camera_optical, base_footprint)."""
    pitch, roll = np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    right = np.array([0.0, -1.0, 0.0])  # the camera's axes in the floor frame, pitched about its right axis
    down = np.array([-np.sin(pitch), 0.0, -np.cos(pitch)])
    ahead = np.array([np.cos(pitch), 0.0, -np.sin(pitch)])
    x, y = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down  # rolled
    camera = np.stack([x, y, ahead], axis=1)  # (3, 3) columns: the camera's axes in the floor frame
    return Transform(camera.T, -camera.T @ np.array([forward, 0.0, height]))


def person(normal: np.ndarray, lateral: float, forward: float, lifted: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A person standing at (lateral, forward) m on the floor → (J, 3) root-relative pose (only the ankles matter
    here: one on the floor, one `lifted` above it) and (3,) the true root, camera frame."""
    across = np.array([1.0, 0.0, 0.0]) - normal[0] * normal  # the image's x, in the floor
    across /= np.linalg.norm(across)
    ahead = np.cross(across, normal)  # in the floor, away from the camera
    foot = normal * (HEIGHT - ANKLE_HEIGHT_M) + lateral * across + forward * ahead  # (3,)
    root = foot - 0.85 * normal
    pose = np.zeros((17, 3))
    pose[ANKLES[0]] = foot - root
    pose[ANKLES[1]] = foot - root + 0.2 * across - lifted * normal
    return pose, root


def run(ground: GroundPlane, scales: list[float], frames: int, pitch: float = 10.0, start: int = 0,
        options: TemporalOptions = GIVEN, rng: np.random.Generator | None = None, method: int = REPROJECTION,
        roll: float = 0.0, floor_at=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Counter]:
    """People walking around in front of the camera for `frames` frames, person p's 2D fit off by scales[p] (plus
    2 % fit noise) → (F, P, 3) raw fits, corrected fits, true roots and the counts."""
    rng = rng or np.random.default_rng(0)
    normal, counts = floor_normal(pitch, roll), Counter()
    raw, out, true = (np.zeros((frames, len(scales), 3)) for _ in range(3))
    for f in range(frames):
        poses, fits = [], []
        for p, scale in enumerate(scales):
            t = (start + f) / 30.0
            pose, root = person(normal, 2.0 * np.sin(0.3 * t + p) - 0.5 + p * 0.4, 4.0 + 2.5 * np.sin(0.2 * t + 2 * p))
            noise = 1 + 0.02 * rng.standard_normal()
            poses.append(scale * noise * pose + 0.02 * rng.standard_normal((17, 3)))
            fits.append(scale * noise * root)
            true[f, p] = root
        raw[f] = fits
        out[f] = ground.correct((start + f + 1) * PERIOD, tuple(range(1, len(scales) + 1)), np.array(poses),
                                np.array(fits), np.full(len(scales), method), np.stack([K] * len(scales)),
                                np.ones((len(scales), 17), bool), counts, options, floor_at)
    return raw, out, true, counts


def distance_ratio(fits: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.linalg.norm(fits, axis=-1) / np.linalg.norm(true, axis=-1)


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (10.0, 0.0), (0.0, 5.0), (12.0, -5.0)])
def test_a_floor_from_a_tf_transform_on_constructed_mounts(pitch: float, roll: float) -> None:
    """The floor frame's pose in the camera frame → the normal down and the camera's height: level 1.2 m up
    (0, 1, 0), pitched 10° (as the parameters give it), rolled 5° (which the parameters cannot); the camera's
    horizontal offset from the floor frame's origin changes nothing."""
    floor = floor_from_transform(mount(1.2, pitch, roll))
    np.testing.assert_allclose(floor.normal, floor_normal(pitch, roll), atol=1e-12)
    assert floor.height == pytest.approx(1.2, abs=1e-12) and floor.problem() is None
    assert floor_from_transform(mount(1.2, pitch, roll, forward=-2.0)).height == pytest.approx(1.2, abs=1e-12)
    if roll == 0.0:
        assert not floor.moved_from(floor_from_pitch(1.2, pitch))


def test_a_floor_as_tf2_prints_it() -> None:
    """An optical frame 1.2 m up, 0.1 m ahead of base_footprint, looking along its +x: tf2 gives base_footprint in
    the camera frame as translation (0, 1.2, -0.1), rotation (0.5, -0.5, 0.5, 0.5) (the inverse of docs/NODE.md's
    camera_to_target example)."""
    floor = floor_from_transform(Transform.from_pose((0.0, 1.2, -0.1, 0.5, -0.5, 0.5, 0.5)))
    np.testing.assert_allclose(floor.normal, [0.0, 1.0, 0.0], atol=1e-12)
    assert floor.height == pytest.approx(1.2)
    upside_down = Transform.from_pose((0.0, 1.2, -0.1, 0.5, 0.5, 0.5, -0.5))  # the floor frame's z pointing down
    assert "z axis must point up" in floor_from_transform(upside_down).problem()


def test_floor_problems_and_moves() -> None:
    floor = floor_from_pitch(1.2, 10.0)
    assert "not finite" in Floor(np.array([0.0, np.nan, 1.0]), 1.2).problem()
    assert "not a unit vector" in Floor(np.array([0.0, 2.0, 0.0]), 1.2).problem()
    assert "above the floor" in Floor(np.array([0.0, 1.0, 0.0]), -0.3).problem()
    assert "above the people's ankles" in Floor(np.array([0.0, 1.0, 0.0]), ANKLE_HEIGHT_M).problem()
    assert not floor.moved_from(floor) and not floor.moved_from(floor_from_pitch(1.2 + FLOOR_SHIFT_M / 2, 10.2))
    assert floor.moved_from(floor_from_pitch(1.2, 10.0 + 2 * FLOOR_TILT_DEG))
    assert floor.moved_from(floor_from_pitch(1.2 + 2 * FLOOR_SHIFT_M, 10.0))


def test_size_factor_converges_with_a_given_floor() -> None:
    """With the camera's height and pitch known, every person's 2D fits come to the true distance (their own size
    error removed); `ground_weight` 0.5 goes half way in logs."""
    scales = [0.95, 1.0, 1.04, 1.08]
    raw, out, true, counts = run(GroundPlane(), scales, 400)
    late = slice(200, None)
    assert counts["ground.corrected"] > 0
    before, after = distance_ratio(raw[late], true[late]), distance_ratio(out[late], true[late])
    assert np.abs(np.median(before, 0) - 1).max() > 0.07
    assert np.abs(np.median(after, 0) - 1).max() < 0.02
    _, half, _, _ = run(GroundPlane(), scales, 400, options=dataclasses.replace(GIVEN, ground_weight=0.5))
    np.testing.assert_allclose(distance_ratio(half, raw), np.sqrt(distance_ratio(out, raw)), rtol=1e-9)  # log halfway


def test_the_floor_from_tf_is_the_parameters_floor_and_models_roll() -> None:
    """The same mount given as a transform each frame corrects as the parameters do; a rolled camera, which the
    parameters cannot describe, is corrected to the true distance by its transform, and worse by the parameters'
    unrolled floor."""
    scales, late = [0.95, 1.0, 1.04, 1.08], slice(200, None)
    _, by_parameters, _, _ = run(GroundPlane(), scales, 400)
    tf_floor = floor_from_transform(mount(HEIGHT, 10.0))
    _, by_tf, _, counts = run(GroundPlane(), scales, 400, options=FROM_TF, floor_at=lambda stamp_ns: tf_floor)
    np.testing.assert_allclose(by_tf, by_parameters, rtol=1e-9)
    assert counts["ground.floor_changed"] == 0 and counts["ground.no_floor"] == 0
    rolled = floor_from_transform(mount(HEIGHT, 10.0, roll_deg=5.0))
    _, by_tf, true, _ = run(GroundPlane(), scales, 400, roll=5.0, options=FROM_TF, floor_at=lambda stamp_ns: rolled)
    _, unrolled, _, _ = run(GroundPlane(), scales, 400, roll=5.0)
    error_tf = np.abs(np.median(distance_ratio(by_tf[late], true[late]), 0) - 1).max()
    error_unrolled = np.abs(np.median(distance_ratio(unrolled[late], true[late]), 0) - 1).max()
    assert error_tf < 0.02 < error_unrolled


def test_without_a_floor_nothing_is_corrected_and_it_is_counted() -> None:
    """ground_plane on with neither parameters nor a floor source (or a source that finds none): the fits go out as
    they came, every skeleton counted ground.no_floor; no floor is learned from the feet."""
    for floor_at in (None, lambda stamp_ns: None):
        raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, options=FROM_TF, floor_at=floor_at)
        assert np.array_equal(raw, out) and counts == Counter({"ground.no_floor": 400})


def test_a_floor_missing_now_and_then_keeps_the_tracks() -> None:
    """A floor source that misses one frame in ten (tf2 not there yet): those frames pass through, counted, and the
    others are corrected as with the floor every frame after the tracks' first contacts."""
    floor = floor_from_pitch(HEIGHT, 10.0)
    raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, options=FROM_TF,
                              floor_at=lambda stamp_ns: None if stamp_ns // PERIOD % 10 == 0 else floor)
    missed = np.arange(1, 201) % 10 == 0
    assert counts["ground.no_floor"] == 2 * missed.sum() and np.array_equal(raw[missed], out[missed])
    assert (out[~missed][30:] != raw[~missed][30:]).all(-1).all()


def test_a_floor_moving_in_tf_keeps_every_contact() -> None:
    """A jittering mount, and a head tilting 10° → 20° → 10° at 1.5°/s with its TF floor following, keep the
    contacts (each measured against its own frame's floor): every 2D fit after the first contacts is corrected to
    within 2 % of the true distance, no restart (ground.floor_changed counted 36 times and corrected 46 % of the fits
    when contacts were camera-frame points that a 0.5° move threw away)."""
    rng = np.random.default_rng(1)
    jitter = lambda stamp_ns: floor_from_pitch(HEIGHT + 0.003 * rng.standard_normal(),  # noqa: E731
                                                10.0 + 0.05 * rng.standard_normal())
    ground = GroundPlane()
    raw, out, _, counts = run(ground, [1.05, 0.97], 300, options=FROM_TF, floor_at=jitter)
    assert counts["ground.floor_changed"] == 0 and ground.trusted and (out[-100:] != raw[-100:]).all()
    ground, counts, runs, rng = GroundPlane(), Counter(), [], np.random.default_rng(0)
    for f in range(600):
        pitch = 10.0 + 10.0 * (1 - abs(1 - f / 300))  # (F,) 10 → 20 → 10 degrees
        floor = floor_from_transform(mount(HEIGHT, pitch))
        *fits, frame_counts = run(ground, [0.95, 1.0, 1.04, 1.08], 1, pitch=pitch, start=f, options=FROM_TF, rng=rng,
                                  floor_at=lambda stamp_ns: floor)
        runs.append(fits)
        counts += frame_counts
    raw, out, true = (np.concatenate(x)[100:] for x in zip(*runs))  # (500, 4, 3) each
    assert not counts["ground.floor_changed"] and not counts["ground.plane_reset"]
    assert (raw != out).any(-1).all()
    assert np.median(np.abs(distance_ratio(raw, true) - 1), 0).max() > 0.07
    assert np.median(np.abs(distance_ratio(out, true) - 1), 0).max() < 0.02


def test_a_floor_the_feet_left_is_trusted_again_once_tf_moves() -> None:
    """The head tilts to 25° and its TF floor stays at 10° (a lagging TF): the feet leave it, the corrections stop;
    once TF gives the 25° floor, the contacts start afresh and the fits are corrected again."""
    ground, stale = GroundPlane(), floor_from_transform(mount(HEIGHT, 10.0))
    run(ground, [1.05, 0.97], 300, options=FROM_TF, floor_at=lambda stamp_ns: stale)
    raw, out, _, counts = run(ground, [1.05, 0.97], 60, pitch=25.0, start=300, options=FROM_TF,
                              floor_at=lambda stamp_ns: stale)
    assert counts["ground.plane_reset"] == 1 and not ground.trusted and np.array_equal(raw[-20:], out[-20:])
    right = floor_from_transform(mount(HEIGHT, 25.0))
    raw, out, _, counts = run(ground, [1.05, 0.97], 100, pitch=25.0, start=360, options=FROM_TF,
                              floor_at=lambda stamp_ns: right)
    assert ground.trusted and not counts["ground.floor_changed"] and (out[-50:] != raw[-50:]).all()


def test_setting_the_parameters_or_switching_to_tf_restarts_the_contacts() -> None:
    """Contacts measured against one calibration are not kept for another: the parameters set to other values, or
    the floor's source switched from the parameters to TF, restart them (counted); the first frames after go out as
    fitted, then the tracks are corrected again."""
    ground = GroundPlane()
    run(ground, [1.05, 0.97], 300)
    for start, options, floor_at in ((300, dataclasses.replace(GIVEN, ground_camera_height=HEIGHT + 0.05), None),
                                     (400, FROM_TF, lambda stamp_ns: floor_from_pitch(HEIGHT, 10.0))):
        raw, out, _, counts = run(ground, [1.05, 0.97], 100, start=start, options=options, floor_at=floor_at)
        assert counts["ground.floor_changed"] == 1 and counts["ground.plane_reset"] == 0
        assert np.array_equal(raw[:5], out[:5]) and (out[-50:] != raw[-50:]).all()


def test_an_invalid_floor_is_counted_and_corrects_nothing() -> None:
    below = Floor(np.array([0.0, -1.0, 0.0]), -1.2)  # the camera under the floor frame (its z pointing down)
    raw, out, _, counts = run(GroundPlane(), [1.05], 50, options=FROM_TF, floor_at=lambda stamp_ns: below)
    assert np.array_equal(raw, out) and counts == Counter({"ground.floor_invalid": 50, "ground.no_floor": 50})


def test_off_changes_nothing_and_depth_fits_are_never_scaled() -> None:
    raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, options=TemporalOptions(ground_plane=False))
    assert np.array_equal(raw, out) and not counts
    raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, method=DEPTH)
    assert np.array_equal(raw, out) and counts["ground.corrected"] == 0
    ground = GroundPlane()  # 2D fits of tracks that depth placed once: left to the RootFilter's depth-era state
    run(ground, [1.05, 0.97], 1, method=DEPTH)
    raw, out, _, counts = run(ground, [1.05, 0.97], 200, start=1)
    assert np.array_equal(raw, out) and counts["ground.contacts"] > 0 and counts["ground.corrected"] == 0


def test_camera_tilting_mid_stream_stops_the_corrections() -> None:
    """The camera pitches from 10° to 25° (a pan-tilt head) and the floor given does not follow: the feet leave it,
    the estimate is restarted (counted) and the fits go out as they came until another floor is given."""
    ground = GroundPlane()
    raw, out, _, _ = run(ground, [1.05, 0.97, 1.0], 300)
    assert ground.trusted and not np.array_equal(raw[-1], out[-1])
    raw, out, _, counts = run(ground, [1.05, 0.97, 1.0], 60, pitch=25.0, start=300)
    assert counts["ground.plane_reset"] == 1 and counts["ground.contact_gated"] > 0
    same = np.flatnonzero((raw == out).all((-1, -2)))  # frames passed through as fitted
    assert len(same) and same[0] < 15  # the reset comes within the first frames after the tilt ...
    assert np.array_equal(raw[same[0]:], out[same[0]:]) and not ground.trusted  # ... then today's roots
    raw, out, _, counts = run(ground, [1.05, 0.97, 1.0], 100, pitch=25.0, start=360,
                              options=dataclasses.replace(GIVEN, ground_camera_pitch=25.0))
    assert counts["ground.floor_changed"] == 1 and ground.trusted and (out[-50:] != raw[-50:]).all()


def test_a_jump_is_no_contact_and_keeps_the_factor() -> None:
    """A person's lower ankle 0.4 m above their floor (a jump) is gated, counted, and their fits are still
    corrected by the factor they had."""
    ground = GroundPlane()
    run(ground, [1.06, 1.0, 0.96], 300)
    normal, counts = floor_normal(10.0), Counter()
    pose, root = person(normal, 0.5, 5.0)
    jumping = pose - 0.4 * normal  # the whole body 0.4 m up: both ankles off the floor
    out = ground.correct(301 * PERIOD, (1,), 1.06 * jumping[None], 1.06 * (root - 0.4 * normal)[None],
                         np.array([REPROJECTION]), K[None], SEEN, counts, GIVEN)
    assert counts["ground.contact_gated"] == 1 and counts["ground.corrected"] == 1
    assert np.linalg.norm(out[0]) / np.linalg.norm(root - 0.4 * normal) == pytest.approx(1.0, abs=0.03)


def test_bad_feet_are_counted_and_change_nothing() -> None:
    """NaN and huge feet, and a frame without a camera: counted where it applies, no exception, the fit passed
    through."""
    ground, counts = GroundPlane(), Counter()
    pose = np.zeros((2, 17, 3))
    pose[0, ANKLES[0]] = np.nan
    pose[1, ANKLES[1]] = 1e9
    fits = np.array([[0.0, 0.0, 4.0], [1.0, 0.0, 5.0]])
    out = ground.correct(PERIOD, (1, 2), pose, fits, np.array([REPROJECTION] * 2), np.stack([K, K]),
                         np.ones((2, 17), bool), counts, GIVEN)
    assert np.array_equal(out, fits) and counts["ground.foot_invalid"] == 2
    no_camera = ground.correct(2 * PERIOD, (1,), pose[:1] * 0, fits[:1], np.array([REPROJECTION]),
                               np.full((1, 3, 3), np.nan), SEEN, counts, GIVEN)
    assert np.array_equal(no_camera, fits[:1])


def test_a_hidden_foot_is_no_contact() -> None:
    """Ankles the 2D does not see are the lifter's guess: never learned as on the floor (the fits still pass)."""
    ground, counts, normal = GroundPlane(), Counter(), floor_normal(10.0)
    hidden = np.ones((1, 17), bool)
    hidden[0, list(ANKLES)] = False
    for f in range(100):
        pose, root = person(normal, np.sin(f / 10.0), 4.0 + np.cos(f / 13.0))
        ground.correct((f + 1) * PERIOD, (1,), pose[None], root[None], np.array([REPROJECTION]), K[None], hidden,
                       counts, GIVEN)
    assert counts["ground.contacts"] == 0 and not ground.trusted
