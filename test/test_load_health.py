"""The lifter's overload and loss conditions (mpm_ros.load_health), one test per condition, without ROS."""
import pytest

from mpm_ros.load_health import ERROR, OK, WARN, FrameLedger, LedgerCounts, LoadThresholds, load_conditions

PERIOD = 1 / 30


def _ledger(seconds: float = 3.0, rate: float = 30.0, lose: dict[str, float] | None = None,
            published: float = 1.0) -> FrameLedger:
    """`seconds` of frames at `rate`: each received and sent to inference unless lost (share per reason);
    `published`: share of those sent to inference that get published."""
    ledger, lose = FrameLedger(), lose or {}
    frames = int(seconds * rate)
    credit = {reason: 1e-9 for reason in lose}  # (a hair above 0: 0.1 + ... + 0.1 reaches 1 on the 10th frame)
    out = 1e-9
    for k in range(frames):
        now = k / rate
        ledger.record("received", now)
        lost = None
        for reason, share in lose.items():
            credit[reason] += share
            if credit[reason] >= 1 and lost is None:
                credit[reason] -= 1
                lost = reason
        if lost and lost != "inference_queue_full":
            ledger.record(lost, now)
            continue
        ledger.record("ready", now)
        if lost:
            ledger.record(lost, now)
            continue
        out += published
        if out >= 1:
            out -= 1
            ledger.record("published", now)
    return ledger


def test_a_healthy_stream_is_ok():
    assert load_conditions(_ledger().counts(3.0), 12.0, PERIOD) == (OK, [])


def test_frames_dropped_by_a_full_queue_warn():
    level, problems = load_conditions(_ledger(lose={"inference_queue_full": 0.7}).counts(3.0), 20.0, PERIOD)
    assert level == WARN and "lost in 5 s (inference_queue_full 63" in problems[0] and "more than 10%" in problems[0]


def test_half_the_input_refused_as_stamp_outliers_warns():
    level, problems = load_conditions(_ledger(lose={"stamp_outlier": 0.5}).counts(3.0), 12.0, PERIOD)
    assert level == WARN and problems == ["45 of 90 frames lost in 5 s (stamp_outlier 45; more than 10%)"]


def test_a_few_losses_stay_ok():
    assert load_conditions(_ledger(lose={"stamp_outlier": 0.05}).counts(3.0), 12.0, PERIOD)[0] == OK


def test_latency_over_the_frame_period_warns():
    level, problems = load_conditions(_ledger().counts(3.0), 45.0, PERIOD)
    assert level == WARN and problems == ["end-to-end latency p50 45 ms is over 1 input frame period (33 ms)"]
    assert load_conditions(_ledger().counts(3.0), 45.0, None)[0] == OK  # period unknown: not judged


def test_output_well_below_what_was_sent_to_inference_warns():
    level, problems = load_conditions(_ledger(published=0.3).counts(3.0), 12.0, PERIOD)
    assert level == WARN and problems == ["27 of 90 frames sent to inference published in 5 s (less than 50%)"]


@pytest.mark.parametrize("lose,published,why", [({"stamp_outlier": 1.0}, 1.0, "all refused (stamp_outlier 90)"),
                                                ({}, 0.0, "90 sent to inference (none lost)")])
def test_nothing_getting_through_is_an_error(lose, published, why):
    level, problems = load_conditions(_ledger(lose=lose, published=published).counts(3.0), float("nan"), PERIOD)
    assert level == ERROR and problems == [f"nothing published in 5 s: 90 frames in, {why}"]


def test_start_up_and_quiet_scenes_stay_ok():
    assert load_conditions(_ledger(seconds=0.3, published=0.0).counts(0.3), float("nan"), PERIOD)[0] == OK
    quiet = FrameLedger()
    for k in range(90):  # frames without skeletons: received, nothing to infer, nothing lost
        quiet.record("received", k / 30)
    assert load_conditions(quiet.counts(3.0), float("nan"), PERIOD) == (OK, [])


def test_the_window_forgets_old_frames():
    ledger = _ledger(lose={"inference_queue_full": 0.7})
    assert ledger.counts(3.0).received == 90
    later = ledger.counts(3.0 + LoadThresholds.window_s + 0.1)
    assert later == LedgerCounts()
    assert load_conditions(later, 20.0, PERIOD) == (OK, [])
