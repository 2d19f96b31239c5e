"""The ground plane (mpm_model.streaming.ground), pure library: a synthetic floor seen by a pitched camera, people
whose 2D fits are off by their own size factor (the whole person scaled about the camera centre, as a lifted
skeleton of the wrong size does to a 2D fit)."""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from mpm_model.streaming.ground import ANKLE_HEIGHT_M, ANKLES, GroundPlane
from mpm_model.streaming.placement import DEPTH, REPROJECTION
from mpm_model.streaming.temporal import TemporalOptions

PERIOD = 33_333_333
K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
HEIGHT = 1.5  # camera above the floor, m
ON = TemporalOptions(ground_plane=True, ground_weight=1.0)  # the floor's distance alone
SEEN = np.ones((1, 17), bool)
GIVEN = TemporalOptions(ground_plane=True, ground_camera_height=HEIGHT, ground_camera_pitch=10.0, ground_weight=1.0)


def floor_normal(pitch_deg: float) -> np.ndarray:
    """The floor's normal in the camera frame (x right, y down, z forward) of a camera pitched down by pitch_deg."""
    pitch = np.deg2rad(pitch_deg)
    return np.array([0.0, np.cos(pitch), np.sin(pitch)])


def person(normal: np.ndarray, lateral: float, forward: float, lifted: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A person standing at (lateral, forward) m on the floor → (J, 3) root-relative pose (only the ankles matter
    here: one on the floor, one `lifted` above it) and (3,) the true root, camera frame."""
    across = np.array([1.0, 0.0, 0.0])
    ahead = np.cross(across, normal)  # in the floor, away from the camera
    foot = normal * (HEIGHT - ANKLE_HEIGHT_M) + lateral * across + forward * ahead  # (3,)
    root = foot - 0.85 * normal
    pose = np.zeros((17, 3))
    pose[ANKLES[0]] = foot - root
    pose[ANKLES[1]] = foot - root + 0.2 * across - lifted * normal
    return pose, root


def run(ground: GroundPlane, scales: list[float], frames: int, pitch: float = 10.0, start: int = 0,
        options: TemporalOptions = ON, rng: np.random.Generator | None = None,
        method: int = REPROJECTION) -> tuple[np.ndarray, np.ndarray, np.ndarray, Counter]:
    """People walking around in front of the camera for `frames` frames, person p's 2D fit off by scales[p] (plus
    2 % fit noise) → (F, P, 3) raw fits, corrected fits, true roots and the counts."""
    rng = rng or np.random.default_rng(0)
    normal, counts = floor_normal(pitch), Counter()
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
                                np.ones((len(scales), 17), bool), counts,
                                options)
    return raw, out, true, counts


def distance_ratio(fits: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.linalg.norm(fits, axis=-1) / np.linalg.norm(true, axis=-1)


def test_normal_recovered_under_per_person_scale_errors() -> None:
    """Each person 5 % too near to 8 % too far: their feet lie on parallel planes, and the pooled within-track
    scatter still gives the floor's normal (a plane fitted to all feet together would tilt)."""
    ground = GroundPlane()
    run(ground, [0.95, 1.0, 1.04, 1.08], 400)
    assert ground.trusted
    normal, _ = ground.plane()
    assert np.degrees(np.arccos(min(1.0, normal @ floor_normal(10.0)))) < 2.0


def test_size_factor_converges_with_a_given_floor() -> None:
    """With the camera's height and pitch known, every person's 2D fits come to the true distance (their own size error
    removed); without it, the people come to a common factor (the spread between them removed, their mean kept)."""
    scales = [0.95, 1.0, 1.04, 1.08]
    raw, out, true, counts = run(GroundPlane(), scales, 400, options=GIVEN)
    late = slice(200, None)
    assert counts["ground.corrected"] > 0
    before, after = distance_ratio(raw[late], true[late]), distance_ratio(out[late], true[late])
    assert np.abs(np.median(before, 0) - 1).max() > 0.07
    assert np.abs(np.median(after, 0) - 1).max() < 0.02
    _, half, _, _ = run(GroundPlane(), scales, 400, options=dataclasses.replace(GIVEN, ground_weight=0.5))
    np.testing.assert_allclose(distance_ratio(half, raw), np.sqrt(distance_ratio(out, raw)), rtol=1e-9)  # log halfway
    _, learned, _, _ = run(GroundPlane(), scales, 400)
    people = np.median(distance_ratio(learned[late], true[late]), 0)  # (P,)
    assert people.max() - people.min() < 0.03 < np.ptp(scales)
    assert abs(people.mean() - np.mean(scales)) < 0.02  # the crowd's mean bias stays without a known height


def test_off_changes_nothing_and_depth_fits_are_never_scaled() -> None:
    raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, options=TemporalOptions())
    assert np.array_equal(raw, out) and not counts
    raw, out, _, counts = run(GroundPlane(), [1.05, 0.97], 200, method=DEPTH,
                              options=GIVEN)
    assert np.array_equal(raw, out) and counts["ground.corrected"] == 0
    ground = GroundPlane()  # 2D fits of tracks that depth placed once: left to the RootFilter's depth-era state
    run(ground, [1.05, 0.97], 1, method=DEPTH, options=GIVEN)
    raw, out, _, counts = run(ground, [1.05, 0.97], 200, start=1, options=GIVEN)
    assert np.array_equal(raw, out) and counts["ground.contacts"] > 0 and counts["ground.corrected"] == 0


@pytest.mark.parametrize("options", [ON, GIVEN], ids=["learned", "given"])
def test_camera_tilting_mid_stream_restarts_the_plane_and_falls_back(options: TemporalOptions) -> None:
    """The camera pitches from 10° to 25° (a pan-tilt head): the feet leave the floor, the estimate is restarted
    (counted) and the fits go out as they came: a learned floor until the new one is trusted, a given floor until
    another is given."""
    ground = GroundPlane()
    raw, out, _, _ = run(ground, [1.05, 0.97, 1.0], 300, options=options)
    assert ground.trusted and not np.array_equal(raw[-1], out[-1])
    raw, out, _, counts = run(ground, [1.05, 0.97, 1.0], 60, pitch=25.0, start=300, options=options)
    assert counts["ground.plane_reset"] == 1 and counts["ground.contact_gated"] > 0
    same = np.flatnonzero((raw == out).all((-1, -2)))  # frames passed through as fitted
    assert len(same) and same[0] < 15  # the reset comes within the first frames after the tilt ...
    assert np.array_equal(raw[same[0]:same[0] + 15], out[same[0]:same[0] + 15])  # ... then today's roots
    if options is GIVEN:
        assert np.array_equal(raw[same[0]:], out[same[0]:]) and not ground.trusted


def test_a_jump_is_no_contact_and_keeps_the_factor() -> None:
    """A person's lower ankle 0.4 m above their floor (a jump) is gated, counted, and their fits are still
    corrected by the factor they had."""
    options = GIVEN
    ground = GroundPlane()
    run(ground, [1.06, 1.0, 0.96], 300, options=options)
    normal, counts = floor_normal(10.0), Counter()
    pose, root = person(normal, 0.5, 5.0)
    jumping = pose - 0.4 * normal  # the whole body 0.4 m up: both ankles off the floor
    out = ground.correct(301 * PERIOD, (1,), 1.06 * jumping[None], 1.06 * (root - 0.4 * normal)[None],
                         np.array([REPROJECTION]), K[None], SEEN, counts, options)
    assert counts["ground.contact_gated"] == 1 and counts["ground.corrected"] == 1
    assert np.linalg.norm(out[0]) / np.linalg.norm(root - 0.4 * normal) == pytest.approx(1.0, abs=0.03)


def test_feet_along_a_line_are_no_plane() -> None:
    """One person walking straight towards the camera: the normal is unknown about that line, never trusted."""
    ground, counts, normal = GroundPlane(), Counter(), floor_normal(10.0)
    options = ON
    for f in range(300):
        pose, root = person(normal, 0.0, 3.0 + 2.0 * np.sin(f / 30.0))
        pose[ANKLES[1]] = pose[ANKLES[0]] - 0.3 * normal  # one foot in the air, straight above the other
        out = ground.correct((f + 1) * PERIOD, (1,), pose[None], root[None], np.array([REPROJECTION]), K[None],
                             SEEN, counts, options)
        assert np.array_equal(out[0], root)
    assert not ground.trusted and counts["ground.corrected"] == 0


def test_bad_feet_are_counted_and_change_nothing() -> None:
    """NaN and huge feet, and a single track: counted, no exception, the fit passed through."""
    ground, counts = GroundPlane(), Counter()
    pose = np.zeros((2, 17, 3))
    pose[0, ANKLES[0]] = np.nan
    pose[1, ANKLES[1]] = 1e9
    fits = np.array([[0.0, 0.0, 4.0], [1.0, 0.0, 5.0]])
    out = ground.correct(PERIOD, (1, 2), pose, fits, np.array([REPROJECTION] * 2), np.stack([K, K]),
                         np.ones((2, 17), bool), counts, ON)
    assert np.array_equal(out, fits) and counts["ground.foot_invalid"] == 2
    no_camera = ground.correct(2 * PERIOD, (1,), pose[:1] * 0, fits[:1], np.array([REPROJECTION]),
                               np.full((1, 3, 3), np.nan), SEEN, counts, ON)
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
