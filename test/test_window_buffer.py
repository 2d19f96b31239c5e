"""WindowBuffer (pure numpy): padding, delay, masks, gaps, expiry, stamp checks, max tracks."""
import numpy as np
import pytest

from mpm_model.data.camera import normalize_screen
from mpm_model.streaming.options import StreamOptions
from mpm_model.streaming.window_buffer import NS_PER_S, BufferConfig, Observation, WindowBuffer

J = 17
W, H = 640, 480
PERIOD_NS = NS_PER_S // 30


def observation(seed: int = 0, confidence: float = 0.9) -> Observation:
    rng = np.random.default_rng(seed)
    pixels = rng.uniform([50, 50], [W - 50, H - 50], size=(J, 2)).astype(np.float32)
    return Observation(pixels, np.full(J, confidence, np.float32))


def buffer(window: int = 5, target_index: int | None = None, **options) -> WindowBuffer:
    """A buffer with these StreamOptions; min_visible_joints 1 unless given (these tests mask joints freely)."""
    target = window - 1 if target_index is None else target_index
    options.setdefault("min_visible_joints", 1)
    return WindowBuffer(BufferConfig(window=window, target_index=target, options=StreamOptions(**options)))


def test_causal_emits_first_frame_immediately_with_padding() -> None:
    buf = buffer(window=5)
    obs = observation()
    result = buf.push(10 * NS_PER_S, {3: obs}, W, H)
    assert result.status == "ok" and len(result.emissions) == 1
    emission = result.emissions[0]
    assert emission.stamp_ns == 10 * NS_PER_S and emission.track_ids == [3]
    assert emission.keypoints.shape == (1, 5, J, 2) and emission.mask.shape == (1, 5, J)
    assert emission.mask[0, :4].all(), "padding frames before the stream start must be masked"
    assert not emission.mask[0, 4].any()
    np.testing.assert_allclose(emission.keypoints[0, 4], normalize_screen(obs.pixels, W, H), rtol=1e-6)
    np.testing.assert_array_equal(emission.target_pixels[0], obs.pixels)


def test_centred_output_is_delayed_and_keeps_source_stamp() -> None:
    buf = buffer(window=5, target_index=2)  # delay of 2 frames
    stamps = [NS_PER_S + k * PERIOD_NS for k in range(5)]
    emitted = []
    for k, stamp in enumerate(stamps):
        result = buf.push(stamp, {1: observation(k)}, W, H)
        emitted += [e.stamp_ns for e in result.emissions]
        if k < 2:
            assert not result.emissions
    assert emitted == stamps[:3], "output k describes input k, two frames later"


def test_joint_masking_rules() -> None:
    buf = buffer(window=3, min_confidence=0.5)
    obs = observation(confidence=0.9)
    pixels, confidence = obs.pixels.copy(), obs.confidence.copy()
    confidence[1] = 0.2  # low confidence
    pixels[2, 0] = np.nan  # non-finite
    pixels[3] = (W + 5, 10)  # outside the image
    pixels[4] = (-1, 10)
    confidence[5] = np.inf
    emission = buf.push(NS_PER_S, {0: Observation(pixels, confidence)}, W, H).emissions[0]
    expected = np.zeros(J, bool)
    expected[[1, 2, 3, 4, 5]] = True
    np.testing.assert_array_equal(emission.target_mask[0], expected)
    assert np.isfinite(emission.keypoints).all(), "masked values are zeroed, never NaN"
    assert (emission.target_confidence[0][expected] == 0).all()


def test_gap_inserts_masked_frames() -> None:
    buf = buffer(window=6)
    for k in range(4):
        buf.push(NS_PER_S + k * PERIOD_NS, {0: observation(k)}, W, H)
    result = buf.push(NS_PER_S + 6 * PERIOD_NS, {0: observation(9)}, W, H)  # frames 4 and 5 missing
    assert result.gap_frames == 2
    assert len(result.emissions) == 1, "masked gap frames are never emitted as outputs"
    window_mask = result.emissions[0].mask[0].all(axis=1)  # (T,) True = frame fully masked
    np.testing.assert_array_equal(window_mask, [False, False, False, True, True, False])


def test_fixed_frame_rate_gap_detection() -> None:
    buf = buffer(window=4, frame_rate=10.0)
    buf.push(NS_PER_S, {0: observation()}, W, H)
    result = buf.push(NS_PER_S + 3 * NS_PER_S // 10, {0: observation()}, W, H)
    assert result.gap_frames == 2


def test_gap_emits_pending_delayed_frames() -> None:
    buf = buffer(window=5, target_index=2)
    stamps = [NS_PER_S + k * PERIOD_NS for k in range(3)]
    emitted = []
    for k, stamp in enumerate(stamps):
        emitted += [e.stamp_ns for e in buf.push(stamp, {0: observation(k)}, W, H).emissions]
    result = buf.push(NS_PER_S + 6 * PERIOD_NS, {0: observation(5)}, W, H)
    emitted += [e.stamp_ns for e in result.emissions]
    assert emitted == stamps, "frames still waiting for lookahead are emitted when a gap pushes them through"


def test_track_absent_gets_masked_frame_and_expires_with_timeout() -> None:
    buf = buffer(window=3, track_timeout=0.1)
    buf.push(NS_PER_S, {1: observation(), 2: observation(1)}, W, H)
    result = buf.push(NS_PER_S + PERIOD_NS, {1: observation()}, W, H)
    assert result.emissions[0].track_ids == [1] and not result.expired
    expired = []
    for k in range(2, 6):
        expired += buf.push(NS_PER_S + k * PERIOD_NS, {1: observation()}, W, H).expired
    assert expired == [2] and buf.track_ids == [1]


def test_duplicate_and_out_of_order_stamps_are_dropped() -> None:
    buf = buffer(window=3)
    buf.push(5 * NS_PER_S, {0: observation()}, W, H)
    duplicate = buf.push(5 * NS_PER_S, {0: observation()}, W, H)
    late = buf.push(5 * NS_PER_S - PERIOD_NS, {0: observation()}, W, H)
    assert duplicate.status == "duplicate_stamp" and not duplicate.emissions
    assert late.status == "out_of_order_stamp" and not late.emissions
    assert buf.track_ids == [0]


def test_sustained_jump_back_resets_buffers() -> None:
    buf = buffer(window=3)
    buf.push(100 * NS_PER_S, {0: observation(), 4: observation(1)}, W, H)
    first = [buf.push(2 * NS_PER_S + k * PERIOD_NS, {0: observation()}, W, H) for k in range(2)]
    assert [r.status for r in first] == ["stamp_outlier"] * 2, "one or two far frames are outliers, not a loop"
    result = buf.push(2 * NS_PER_S + 2 * PERIOD_NS, {0: observation()}, W, H)
    assert result.status == "stamp_jump_back" and sorted(result.expired) == [0, 4]
    assert buf.track_ids == [0]
    assert result.emissions[0].mask[0, :2].all(), "history before the jump is forgotten"


@pytest.mark.parametrize("bad_stamp", [0, 10**6 * NS_PER_S, 100 * NS_PER_S - 5 * NS_PER_S],
                         ids=["zero", "far_future", "5s_back"])
def test_single_stamp_outlier_is_dropped_without_reset(bad_stamp: int) -> None:
    buf = buffer(window=3)
    for k in range(3):
        buf.push(100 * NS_PER_S + k * PERIOD_NS, {0: observation(k)}, W, H)
    outlier = buf.push(bad_stamp, {0: observation(), 1: observation(1)}, W, H)
    assert outlier.status == "stamp_outlier" and not outlier.emissions and not outlier.expired
    good = buf.push(100 * NS_PER_S + 3 * PERIOD_NS, {0: observation(3)}, W, H)
    assert good.status == "ok" and buf.track_ids == [0]
    assert not good.emissions[0].mask[0].any(), "the history of the good track survives the bad frame"


def test_forward_jumps_need_confirmation() -> None:
    buf = buffer(window=5, track_timeout=1.0)
    for k in range(3):
        buf.push(NS_PER_S + k * PERIOD_NS, {0: observation()}, W, H)
    near = buf.push(NS_PER_S + 7 * PERIOD_NS, {0: observation()}, W, H)
    assert near.status == "ok" and near.gap_frames == 4, "a few missed frames are an ordinary gap"
    stall = [buf.push(NS_PER_S + (20 + k) * PERIOD_NS, {0: observation()}, W, H) for k in range(3)]
    assert [r.status for r in stall] == ["stamp_outlier", "stamp_outlier", "ok"], "a stall, once confirmed"
    assert buf.track_ids == [0] and stall[-1].gap_frames == 5, "continues as a gap (at most T masked frames)"
    statuses = [buf.push(50 * NS_PER_S + k * PERIOD_NS, {0: observation()}, W, H).status for k in range(3)]
    assert statuses == ["stamp_outlier", "stamp_outlier", "stamp_jump_forward"]


def test_track_with_too_few_visible_joints_is_never_emitted() -> None:
    buf = buffer(window=3, min_visible_joints=4)
    garbage = observation()
    garbage.pixels[:] = np.nan
    result = buf.push(NS_PER_S, {0: observation(), 9: garbage}, W, H)
    assert result.dropped["too_few_visible_joints"] == 1 and buf.track_ids == [0], "no track for a phantom"
    assert [e.track_ids for e in result.emissions] == [[0]]
    few = observation()
    few.confidence[3:] = 0.0  # 3 visible joints < 4
    result = buf.push(NS_PER_S + PERIOD_NS, {0: few}, W, H)
    assert not result.emissions and result.dropped["too_few_visible_joints"] == 1


@pytest.mark.parametrize("value", [5.0, 1e30])
def test_confidence_above_one_is_masked_and_counted(value: float) -> None:
    buf = buffer(window=3)
    obs = observation()
    obs.confidence[2] = value
    obs.confidence[3] = 1.0005  # rounding noise: clamped, kept
    result = buf.push(NS_PER_S, {0: obs}, W, H)
    emission = result.emissions[0]
    assert emission.target_mask[0, 2] and emission.target_confidence[0, 2] == 0.0
    assert not emission.target_mask[0, 3] and emission.target_confidence[0, 3] == 1.0
    assert result.masked["confidence_above_one"] == 1
    assert emission.target_confidence.max() <= 1.0


def test_joints_outside_the_image_are_counted() -> None:
    buf = buffer(window=3)
    obs = observation()
    obs.pixels[:10] += W  # 10 of 17 joints outside: most of them
    result = buf.push(NS_PER_S, {0: obs}, W, H)
    assert result.masked["outside_image"] == 10 and result.mostly_outside == 1


def test_max_tracks_drops_new_tracks() -> None:
    buf = buffer(window=3, max_tracks=2)
    result = buf.push(NS_PER_S, {k: observation(k) for k in range(4)}, W, H)
    assert result.dropped["too_many_tracks"] == 2
    assert buf.track_ids == [0, 1]


def test_frame_period_estimate_is_robust_to_one_gap() -> None:
    buf = buffer(window=3)
    stamps = [NS_PER_S + k * PERIOD_NS for k in (0, 1, 2, 3, 8, 9, 10, 11)]
    for stamp in stamps:
        buf.push(stamp, {0: observation()}, W, H)
    assert buf.frame_period_s() == pytest.approx(PERIOD_NS / NS_PER_S)


@pytest.mark.parametrize("kwargs", [dict(window=0, target_index=0), dict(window=3, target_index=3),
                                    dict(window=3, target_index=0, max_tracks=0)])
def test_invalid_config_rejected(kwargs) -> None:
    with pytest.raises(ValueError):
        buffer(**kwargs)



def test_stamps_that_advance_with_the_wall_clock_are_gaps_not_outliers() -> None:
    buf = buffer(window=5)
    for k in range(5):
        buf.push(NS_PER_S + k * PERIOD_NS, {0: observation()}, W, H, arrival_ns=k * PERIOD_NS)
    # a consumer that fell behind (or a camera that stalled): stamps 10 frames apart, received 10 frames apart
    slow = [buf.push(NS_PER_S + (4 + 10 * k) * PERIOD_NS, {0: observation()}, W, H,
                     arrival_ns=(4 + 10 * k) * PERIOD_NS) for k in range(1, 4)]
    assert [r.status for r in slow] == ["ok"] * 3
    # a stamp 0.5 s ahead that arrives one frame later is an outlier
    ahead = buf.push(NS_PER_S + 34 * PERIOD_NS + NS_PER_S // 2, {0: observation()}, W, H, arrival_ns=35 * PERIOD_NS)
    assert ahead.status == "stamp_outlier"
