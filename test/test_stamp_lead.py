"""Stamps judged against the receive clock (issue 20): a stream running ahead is refused, late or bursty delivery,
clock drift and a clock step are not."""
import numpy as np

from mpm_model.streaming.options import StreamOptions
from mpm_model.streaming.stamp_lead import ReceiveClockReference, agree_with_receive_clock
from mpm_model.streaming.window_buffer import NS_PER_S, BufferConfig, Observation, WindowBuffer

J, W, H = 17, 640, 480
PERIOD_NS = NS_PER_S // 30
FRAME = {0: Observation(np.full((J, 2), 100.0, np.float32), np.full(J, 0.9, np.float32))}


def _buffer(**options) -> WindowBuffer:
    return WindowBuffer(BufferConfig(window=9, target_index=8, options=StreamOptions(**options)))


def _send(buf: WindowBuffer, stamps: list[int], arrivals: list[int]) -> list[str]:
    return [buf.push(s, FRAME, W, H, arrival_ns=a).status for s, a in zip(stamps, arrivals)]


def test_ten_seconds_of_stamps_within_one_second_are_outliers():
    """300 messages carrying 10 s of stamps, sent within 1 s: only the first frames (up to 1 s ahead of the receive
    clock: more than 6 periods at 30 Hz) pass; the rest are outliers, never believed (they keep running ahead)."""
    stamps = [5 * NS_PER_S + k * PERIOD_NS for k in range(300)]
    arrivals = [k * NS_PER_S // 300 for k in range(300)]
    statuses = _send(buf := _buffer(), stamps, arrivals)
    accepted = [k for k, status in enumerate(statuses) if status == "ok"]
    assert accepted == list(range(34)), statuses[:40]  # lead per frame 30 ms: frame 34 is 1.02 s ahead
    assert statuses[34:] == ["stamp_outlier"] * 266
    lead_ns = max(s - a for s, a in zip(stamps[:34], arrivals[:34])) - (stamps[0] - arrivals[0])
    assert lead_ns <= NS_PER_S and buf.track_ids == [0]


def test_a_real_time_stream_passes_through_late_delivery_bursts_and_drift():
    rng = np.random.default_rng(0)
    stamps = [NS_PER_S + k * PERIOD_NS for k in range(900)]
    delays = rng.uniform(2e6, 15e6, 900).astype(np.int64)  # 2-15 ms transport jitter
    delays[300:310] += np.arange(10, 0, -1) * PERIOD_NS  # 10 frames held back, then delivered together
    drift = (np.arange(900) * PERIOD_NS * 0.999).astype(np.int64)  # receive clock 0.1 % slower: stamps run ahead
    arrivals = [int(s - NS_PER_S + d + (x - k * PERIOD_NS)) for k, (s, d, x) in enumerate(zip(stamps, delays, drift))]
    assert _send(_buffer(frame_rate=30.0), stamps, arrivals) == ["ok"] * 900


def test_a_clock_step_is_believed_after_confirmation_and_the_reference_follows():
    buf = _buffer(track_timeout=1.0)
    _send(buf, [NS_PER_S + k * PERIOD_NS for k in range(10)], [k * PERIOD_NS for k in range(10)])
    step = NS_PER_S // 2  # the publisher's clock steps 0.5 s forward, then runs at real time again
    stamps = [NS_PER_S + step + k * PERIOD_NS for k in range(10, 20)]
    statuses = _send(buf, stamps, [k * PERIOD_NS for k in range(10, 20)])
    assert statuses == ["stamp_outlier"] * 2 + ["ok"] * 8


def test_a_first_frame_that_arrived_late_costs_two_frames_not_the_stream():
    arrivals = [NS_PER_S // 2] + [NS_PER_S // 2 + k * PERIOD_NS - 400_000_000 for k in range(1, 12)]
    statuses = _send(_buffer(), [k * PERIOD_NS for k in range(12)], arrivals)
    assert statuses[0] == "ok" and statuses.count("stamp_outlier") <= 2 and statuses[-8:] == ["ok"] * 8


def test_reference_and_agreement_rules():
    clock = ReceiveClockReference()
    assert clock.lead_ns(10, 5) is None  # no reference yet
    clock.accept(1000, 100, PERIOD_NS)
    assert clock.lead_ns(1000 + PERIOD_NS, 100) == PERIOD_NS and clock.lead_ns(1000, 200) == -100
    clock.accept(1000 + PERIOD_NS, 100, PERIOD_NS)  # far ahead: accepted by the caller, moves nothing
    assert clock.offset_ns == 900
    clock.accept(1000 + PERIOD_NS // 100, 100, PERIOD_NS)  # within the drift allowance: followed
    assert clock.offset_ns == 900 + PERIOD_NS // 100
    assert agree_with_receive_clock([(0, 0), (PERIOD_NS, PERIOD_NS), (2 * PERIOD_NS, 2 * PERIOD_NS)], PERIOD_NS)
    assert not agree_with_receive_clock([(0, 0), (2 * PERIOD_NS, PERIOD_NS), (4 * PERIOD_NS, 2 * PERIOD_NS)],
                                        PERIOD_NS)  # 2x real time
    assert agree_with_receive_clock([(0, None), (5, None)], PERIOD_NS)
    assert agree_with_receive_clock([(0, 0), (PERIOD_NS, 2 * PERIOD_NS), (2 * PERIOD_NS, 4 * PERIOD_NS)],
                                    PERIOD_NS)  # slower than real time: a slow feeder, not a runaway


def test_a_bag_played_at_twice_real_time_with_its_own_stamps_is_refused():
    """The documented rule: stamps may not run ahead of the receive clock. A faster-than-real-time replay must
    restamp (mpm_ros.bags.replay does by default); with its original stamps it stops once 1 s ahead (2 s in)."""
    stamps = [k * PERIOD_NS for k in range(120)]
    statuses = _send(_buffer(), stamps, [k * PERIOD_NS // 2 for k in range(120)])
    assert statuses[:61] == ["ok"] * 61 and statuses[61:] == ["stamp_outlier"] * 59
