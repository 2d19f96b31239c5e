"""PoseLead (pose_lead): 0 is the identity and keeps nothing; a pose at constant velocity is carried exactly the lead
ahead at any rate and stamp jitter (the velocity from stamps); a gap beyond MAX_SPAN_S, stamps going back or a stale
track give no lead that frame; a non-finite velocity is no lead; the track_timeout is live."""
from __future__ import annotations

import numpy as np
import pytest

from mpm_model.streaming.lead import MAX_SPAN_S, PoseLead

S = 1_000_000_000
PERIOD = 33_333_333
VELOCITY = np.random.default_rng(0).normal(size=(2, 17, 3))  # (B, J, 3) m/s, one per track
START = np.random.default_rng(1).normal(size=(2, 17, 3))  # (B, J, 3) m


def moving(stamp_ns: int) -> np.ndarray:
    """(2, J, 3) two tracks' poses at constant velocity, at `stamp_ns`."""
    return START + VELOCITY * stamp_ns * 1e-9


def feed(lead: PoseLead, stamps: list[int], tracks: tuple[int, ...] = (1, 2)) -> list[np.ndarray]:
    return [lead.apply(s, tracks, moving(s)[:len(tracks)]) for s in stamps]


def test_zero_is_the_input_itself() -> None:
    lead = PoseLead(0.0)
    for frame in range(5):
        pose = moving(frame * PERIOD)
        assert lead.apply(frame * PERIOD, (1, 2), pose) is pose


@pytest.mark.parametrize("period_ns, jitter_ns", [(PERIOD, 0), (PERIOD, 5_000_000), (S // 10, 0), (S // 60, 0)])
def test_constant_velocity_is_carried_exactly_the_lead_ahead(period_ns: int, jitter_ns: int) -> None:
    """At 30 Hz (anchor two outputs back), with stamp jitter, at 10 Hz (two back is beyond MAX_SPAN_S: the previous
    one) and at 60 Hz, every output after a track's first is its pose lead_s later; the first is not led."""
    jitter = np.random.default_rng(2).integers(-jitter_ns, jitter_ns + 1, 12)
    stamps = [S + f * period_ns + int(j) for f, j in enumerate(jitter)]
    out = feed(PoseLead(0.05), stamps)
    np.testing.assert_array_equal(out[0], moving(stamps[0]))
    for s, o in zip(stamps[1:], out[1:]):
        np.testing.assert_allclose(o, moving(s + S // 20), rtol=0, atol=1e-9)


def test_a_gap_beyond_the_span_gives_no_lead_that_frame() -> None:
    """A gap longer than MAX_SPAN_S (within the track_timeout): that output is not led, the next one is again."""
    lead = PoseLead(0.05)
    stamps = [S + f * PERIOD for f in range(4)]
    after = stamps[-1] + int(MAX_SPAN_S * S) + 1
    out = feed(lead, [*stamps, after, after + PERIOD])
    np.testing.assert_array_equal(out[4], moving(after))
    np.testing.assert_allclose(out[5], moving(after + PERIOD + S // 20), rtol=0, atol=1e-9)


@pytest.mark.parametrize("restart", ["stamp_back", "stale"])
def test_a_track_reset_gives_no_lead(restart: str) -> None:
    """Stamps going back or a track unseen for longer than the track_timeout (live: shortened to 0.05 s) restart its
    outputs: the next frame is not led, as a new track's first."""
    lead = PoseLead(0.05)
    feed(lead, [S + f * PERIOD for f in range(4)])
    if restart == "stamp_back":
        again = S
    else:
        lead.set_options(0.05, reset_after_s=0.05)
        again = S + 3 * PERIOD + S // 15  # 67 ms later: within MAX_SPAN_S, beyond the track_timeout
    np.testing.assert_array_equal(feed(lead, [again])[0], moving(again))


def test_each_track_alone_and_a_non_finite_velocity_is_no_lead() -> None:
    """A track's first output is not led while another's is; a NaN pose gives no lead (passed as it is)."""
    lead = PoseLead(0.05)
    feed(lead, [S], tracks=(1,))
    out = feed(lead, [S + PERIOD])[0]
    np.testing.assert_allclose(out[0], moving(S + PERIOD + S // 20)[0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(out[1], moving(S + PERIOD)[1])
    pose = moving(S + 2 * PERIOD)
    pose[0, 3] = np.nan
    out = lead.apply(S + 2 * PERIOD, (1, 2), pose)
    np.testing.assert_array_equal(out[0], pose[0])
    np.testing.assert_allclose(out[1], moving(S + 2 * PERIOD + S // 20)[1], rtol=0, atol=1e-9)
