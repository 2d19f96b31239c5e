"""Mirrored lifting (mpm_model.streaming.mirror, `mirror_max_tracks`): one infer() of the windows and their mirror
images, the mean exactly mirror-equivariant; beyond the track limit or 0 = the lifter's own answer bit for bit; live."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.skeleton import H36M_FLIP_PERMUTATION, H36M_JOINTS, flip_pose
from mpm_model.streaming import Camera, LifterOptions, Observation, StreamingLifter, StreamOptions
from mpm_model.streaming.mirror import infer_mirrored
from test_streaming_lifter import Recording, tiny_backend

LEFT_WRIST, RIGHT_WRIST = H36M_JOINTS.index("left_wrist"), H36M_JOINTS.index("right_wrist")
CAMERA = Camera(640, 480, np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]]))


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    return tiny_backend(tmp_path_factory.mktemp("mirror"))  # random weights: the lifter itself is not symmetric


def windows(rng: np.random.Generator, batch: int = 4, window: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, J, 2) screen keypoints, (B, T, J) mask with the left wrist always hidden (an asymmetric mask)."""
    mask = rng.random((batch, window, 17)) < 0.2
    mask[..., LEFT_WRIST] = True
    keypoints = np.where(mask[..., None], 0.0, rng.uniform(-0.6, 0.6, (batch, window, 17, 2))).astype(np.float32)
    return keypoints, mask


def test_flip_pose_negates_x_swaps_sides_and_undoes_itself() -> None:
    points = np.random.default_rng(0).normal(size=(3, 17, 3))
    mirrored = flip_pose(points)
    np.testing.assert_array_equal(mirrored[:, RIGHT_WRIST], points[:, LEFT_WRIST] * [-1, 1, 1])
    np.testing.assert_array_equal(flip_pose(mirrored), points)
    assert mirrored is not points and not np.shares_memory(mirrored, points)


def test_one_infer_of_both_and_their_mean(backend) -> None:
    keypoints, mask = windows(np.random.default_rng(1))
    recording = Recording(backend)
    averaged = infer_mirrored(recording, keypoints, mask)  # (B, 1, J, 3)
    assert recording.batches == [8] and averaged.shape == (4, 1, 17, 3) and averaged.dtype == np.float32
    plain = backend.infer(keypoints, mask)
    swapped = mask[..., list(H36M_FLIP_PERMUTATION)]
    np.testing.assert_allclose(averaged, 0.5 * (plain + flip_pose(backend.infer(flip_pose(keypoints), swapped))), atol=1e-6)
    assert np.abs(averaged - plain).max() > 1e-3, "the mirrored pass changes the answer"


def test_the_mean_is_mirror_equivariant_the_lifter_alone_is_not(backend) -> None:
    keypoints, mask = windows(np.random.default_rng(2))
    swapped = mask[..., list(H36M_FLIP_PERMUTATION)]  # the mirror image's mask: its right wrist hidden
    assert swapped[..., RIGHT_WRIST].all()
    np.testing.assert_allclose(infer_mirrored(backend, flip_pose(keypoints), swapped),
                               flip_pose(infer_mirrored(backend, keypoints, mask)), atol=1e-6)
    assert np.abs(backend.infer(flip_pose(keypoints), swapped) - flip_pose(backend.infer(keypoints, mask))).max() > 1e-3


def test_other_joint_counts_are_refused(backend) -> None:
    with pytest.raises(ValueError, match="17 H36M joints"):
        infer_mirrored(backend, np.zeros((1, 9, 16, 2), np.float32), np.zeros((1, 9, 16), bool))


def test_the_option_off_is_the_lifters_own_answer_and_switches_live(backend) -> None:
    recording = Recording(backend)
    lifter = StreamingLifter(recording, LifterOptions(StreamOptions(mirror_max_tracks=0)))
    alone = StreamingLifter(backend, LifterOptions(StreamOptions(mirror_max_tracks=0)))
    mirrored = StreamingLifter(backend)
    assert StreamOptions().mirror_max_tracks == 4, "on by default for up to 4 tracks"
    for frame in range(12):
        if frame == 6:
            lifter.set_options(LifterOptions())  # on, live
        rng = np.random.default_rng(frame)
        observation = Observation(rng.uniform([200, 100], [440, 380], (17, 2)), np.full(17, 0.9, np.float32))
        stamp = 1_000_000_000 + frame * 33_333_333
        _, out = lifter.step(stamp, {1: observation}, CAMERA)
        _, off = alone.step(stamp, {1: observation}, CAMERA)
        _, on = mirrored.step(stamp, {1: observation}, CAMERA)
        if frame < 6:
            np.testing.assert_array_equal(out[0].joints, off[0].joints)
        else:
            assert np.abs(out[0].joints - off[0].joints).max() > 1e-4
    assert np.abs(on[0].joints - off[0].joints).max() > 1e-4
    assert recording.batches == [1] * 6 + [2] * 6



def test_frames_with_more_tracks_than_the_limit_are_lifted_plain(backend) -> None:
    """mirror_max_tracks 2: a frame of 2 tracks infers 4 windows, one of 3 tracks 3 (the lifter's own answers)."""
    recording = Recording(backend)
    lifter = StreamingLifter(recording, LifterOptions(StreamOptions(mirror_max_tracks=2)))
    plain = StreamingLifter(backend, LifterOptions(StreamOptions(mirror_max_tracks=0)))
    rng = np.random.default_rng(5)
    people = {t: rng.uniform([200, 100], [440, 380], (17, 2)) for t in (1, 2, 3)}
    for frame, tracks in enumerate(((1, 2), (1, 2), (1, 2, 3), (1, 2, 3))):
        observations = {t: Observation(people[t] + frame, np.full(17, 0.9, np.float32)) for t in tracks}
        stamp = 1_000_000_000 + frame * 33_333_333
        _, out = lifter.step(stamp, observations, CAMERA)
        _, own = plain.step(stamp, observations, CAMERA)
    assert recording.batches == [4, 4, 3, 3]
    np.testing.assert_array_equal(out[0].joints[2], own[0].joints[2])  # track 3: never mirrored, same history
    assert StreamOptions(mirror_max_tracks=2).mirrors(2) and not StreamOptions(mirror_max_tracks=2).mirrors(3)
