"""make_bag with one person: the person walks through every sequence of the clip (not one sequence played forwards
and backwards), deterministically, without jumps, and stays near the spot the camera frames (pure: no ROS)."""
from __future__ import annotations

import numpy as np

from mpm_model.data.mocap import MocapSequence
from mpm_model.data.synthetic import synthetic_sequences
from mpm_ros.bags.make_bag import BLEND_FRAMES, WALK_RADIUS_M, build_tracks

FPS, FRAMES, SEQUENCES = 30.0, 900, 8


def _clip() -> list[MocapSequence]:
    """8 sequences, each running 3 m/s along its own heading, each with its own body size (x 1 + 0.1 k): the size
    (pelvis-thorax length, unchanged by turning and moving) tells which sequence a frame comes from."""
    out = []
    for k, seq in enumerate(synthetic_sequences(SEQUENCES, 200, FPS, seed=4)):
        poses = seq.poses3d.astype(np.float64)
        poses = poses[:, :1] + (1 + 0.1 * k) * (poses - poses[:, :1])
        heading = np.array([np.cos(k), np.sin(k), 0.0])
        poses = poses - poses[:1, :1] + 3.0 / FPS * np.arange(len(poses))[:, None, None] * heading
        out.append(MocapSequence(f"run_{k}", f"s{k}", FPS, poses.astype(np.float32)))
    return out


def _walk(seed: int, people: int = 1) -> np.ndarray:
    return build_tracks(_clip(), people, FRAMES, np.random.default_rng(seed), fps=FPS)[0].world  # (F, 17, 3)


def _sizes(world: np.ndarray) -> np.ndarray:
    return np.linalg.norm(world[:, 8] - world[:, 0], axis=-1)  # (F,) pelvis-thorax


def _sequence_of(world: np.ndarray) -> np.ndarray:
    """(F,) the clip sequence each frame comes from, by its body size (a blend frame: either neighbour)."""
    sizes = np.array([np.median(_sizes(s.poses3d.astype(np.float64))) for s in _clip()])  # (S,) all different
    return np.abs(_sizes(world)[:, None] - sizes[None]).argmin(1)


def test_one_person_walks_through_every_sequence_in_order() -> None:
    world = _walk(0)
    assert world.shape == (FRAMES, 17, 3)
    index = _sequence_of(world)
    starts = np.flatnonzero(np.diff(index, prepend=-1))  # (R,) first frame of each run of one sequence
    runs = index[starts][np.diff(starts, append=len(index)) > BLEND_FRAMES]  # blend frames are no run of their own
    assert runs.tolist() == [k % SEQUENCES for k in range(len(runs))]  # the clip's order, wrapping
    assert len(runs) > SEQUENCES  # every sequence in 30 s (each ends early once 4 m from the start)


def test_walk_is_seeded_and_deterministic() -> None:
    assert np.array_equal(_walk(3), _walk(3))
    assert not np.allclose(_walk(3), _walk(4))  # a longer sequence starts at a seeded offset


def test_walk_has_no_jumps_and_stays_in_view() -> None:
    world = _walk(0)
    step = np.linalg.norm(np.diff(world, axis=0), axis=-1).max(-1)  # (F-1,) largest joint move per frame
    own = max(np.linalg.norm(np.diff(s.poses3d, axis=0), axis=-1).max() for s in _clip())
    assert step.max() < own + 0.1  # a sequence change moves no joint more than 10 cm beyond the clip's own motion
    root = world[:, 0, :2]  # turned back, each sequence ended WALK_RADIUS_M from the start (+ the blend's slowing)
    assert np.linalg.norm(root - root[0], axis=-1).max() < WALK_RADIUS_M + 3.0 * BLEND_FRAMES / FPS


def test_two_people_still_play_one_sequence_each() -> None:
    assert (_sequence_of(_walk(0, people=2)) == 0).all()  # the first person: sequence 0 only, as before
