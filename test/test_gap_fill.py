"""Bridging short gaps (mpm_model.streaming.gap_fill, `gap_fill_frames`): interior gaps linear, trailing gaps carried
on along half the last step, leading and long gaps left masked; only the lifter's input changes, live."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.streaming import Camera, LifterOptions, Observation, StreamingLifter, StreamOptions
from mpm_model.streaming.gap_fill import STEP_FRACTION, fill_gaps
from test_streaming_lifter import tiny_backend

CAMERA = Camera(640, 480, np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]]))


def track(frames: int = 9) -> np.ndarray:
    """(1, T, 17, 2) keypoints moving on a straight line, joint j offset by j/10."""
    t = np.arange(frames, dtype=np.float32)[:, None, None]
    return (0.01 * t * np.array([1.0, -2.0], np.float32) + np.arange(17)[None, :, None] / 10)[None]


def hide(keypoints: np.ndarray, hidden: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(frame, joint) hidden: masked and zeroed, as the window buffer emits them."""
    mask = np.zeros(keypoints.shape[:-1], bool)
    for frame, joint in hidden:
        mask[0, frame, joint] = True
    return np.where(mask[..., None], 0.0, keypoints).astype(np.float32), mask


def test_an_interior_gap_is_linear_between_its_sightings() -> None:
    truth = track()
    keypoints, mask = hide(truth, [(3, 5), (4, 5), (5, 5)])
    filled, left = fill_gaps(keypoints, mask, 3)
    np.testing.assert_allclose(filled, truth, atol=1e-6)  # a straight line is bridged exactly
    assert not left.any() and filled.dtype == np.float32
    assert mask.sum() == 3 and (keypoints[0, 3:6, 5] == 0).all(), "the inputs are not changed"


def test_a_whole_dropped_frame_is_bridged_too() -> None:
    truth = track()
    keypoints, mask = hide(truth, [(4, j) for j in range(17)])
    filled, left = fill_gaps(keypoints, mask, 1)
    np.testing.assert_allclose(filled, truth, atol=1e-6)
    assert not left.any()


def test_a_trailing_gap_carries_on_along_part_of_the_last_step() -> None:
    truth = track()
    keypoints, mask = hide(truth, [(7, 2), (8, 2)])
    filled, left = fill_gaps(keypoints, mask, 2)
    step = truth[0, 6, 2] - truth[0, 5, 2]
    np.testing.assert_allclose(filled[0, 7, 2], truth[0, 6, 2] + STEP_FRACTION * step, atol=1e-6)
    np.testing.assert_allclose(filled[0, 8, 2], truth[0, 6, 2] + 2 * STEP_FRACTION * step, atol=1e-6)
    assert not left.any()
    assert 0.0 < STEP_FRACTION < 1.0, "between holding and extrapolating the whole step"


def test_without_a_step_the_last_sighting_is_held() -> None:
    truth = track()
    keypoints, mask = hide(truth, [(5, 2), (7, 2), (8, 2)])  # frame 6 seen, the frame before it not
    filled, left = fill_gaps(keypoints, mask, 2)
    np.testing.assert_allclose(filled[0, 7:, 2], [truth[0, 6, 2]] * 2, atol=1e-6)
    np.testing.assert_allclose(filled[0, 5, 2], truth[0, 5, 2], atol=1e-6)  # and the interior one bridged
    assert not left.any()


def test_leading_and_longer_gaps_stay_masked() -> None:
    truth = track()
    keypoints, mask = hide(truth, [(0, 1), (1, 1)] + [(2, 3), (3, 3), (4, 3)] + [(6, 4), (7, 4), (8, 4)])
    filled, left = fill_gaps(keypoints, mask, 2)
    assert left[0, :2, 1].all() and left[0, 2:5, 3].all() and left[0, 6:, 4].all()
    np.testing.assert_array_equal(filled, keypoints)
    filled, left = fill_gaps(keypoints, mask, 3)  # now the interior and the trailing ones fit
    assert left.sum() == 2 and left[0, :2, 1].all()
    np.testing.assert_allclose(filled[0, 2:5, 3], truth[0, 2:5, 3], atol=1e-6)


def test_zero_is_no_filling_at_all() -> None:
    keypoints, mask = hide(track(), [(4, 5)])
    filled, left = fill_gaps(keypoints, mask, 0)
    assert filled is keypoints and left is mask


def test_the_lifter_sees_the_bridged_window_and_publishes_what_was_seen(tmp_path) -> None:
    """gap_fill_frames 8 (default) against 0: another answer while a joint is hidden, the same one otherwise; the
    published mask and confidence still say the joint was hidden; switched live."""
    backend = tiny_backend(tmp_path)
    assert StreamOptions().gap_fill_frames == 8
    off = LifterOptions(StreamOptions(gap_fill_frames=0))
    filled, plain, live = StreamingLifter(backend), StreamingLifter(backend, off), StreamingLifter(backend, off)
    rng = np.random.default_rng(3)
    base = rng.uniform([200, 100], [440, 380], (17, 2))
    for frame in range(12):
        confidence = np.full(17, 0.9, np.float32)
        if frame >= 9:
            confidence[5] = 0.0  # hidden for the last three frames
        if frame == 10:
            live.set_options(LifterOptions())
        observation = Observation(base + 2.0 * frame, confidence)
        stamp = 1_000_000_000 + frame * 33_333_333
        (a,), (b,), (c,) = (lifter.step(stamp, {1: observation}, CAMERA)[1] for lifter in (filled, plain, live))
        if frame < 9:
            np.testing.assert_array_equal(a.joints, b.joints)
        else:
            assert np.abs(a.joints - b.joints).max() > 1e-4
            assert a.mask[0, 5] and a.confidence[0, 5] == 0.0 and a.mask.sum() == 1
        if frame >= 10:
            assert np.abs(c.joints - b.joints).max() > 1e-4
        else:
            np.testing.assert_array_equal(c.joints, b.joints)


@pytest.mark.parametrize("value", [-1, 244, 2.0])
def test_invalid_values_are_refused(value) -> None:
    with pytest.raises((ValueError, TypeError)):
        StreamOptions(gap_fill_frames=value)


def test_the_evaluation_refuses_a_negative_gap() -> None:
    """EvalOptions.gap_fill (model_card.py / evaluate --gap-fill): 0 = the lifter's own windows; below 0 refused."""
    from mpm_model.evaluation import EvalOptions

    assert EvalOptions().gap_fill == 0
    with pytest.raises(ValueError, match="gap_fill must be >= 0"):
        EvalOptions(gap_fill=-1)
