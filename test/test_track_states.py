"""TrackStates: the continuation and expiry rule the temporal stages share (RootFilter, PoseRefiner, JointSmoother)."""
from dataclasses import dataclass

from mpm_model.streaming.track_states import TrackStates

S = 10**9


@dataclass
class State:
    stamp_ns: int


def test_a_state_continues_forward_within_the_timeout_and_breaks_otherwise() -> None:
    states: TrackStates[State] = TrackStates(reset_after_s=1.0)
    assert states.continuing(1, 5 * S) is None and states.break_reason(1, 5 * S) is None  # none yet
    states[1] = State(5 * S)
    assert states.break_reason(1, 5 * S) == "stamp_back" and states.break_reason(1, 4 * S) == "stamp_back"
    assert states.break_reason(1, 6 * S + 1) == "stale" and states.break_reason(1, 6 * S) is None
    assert states.continuing(1, 6 * S) is states[1]
    assert states.continuing(1, 8 * S) is None and states.get(1) is None, "a broken state is forgotten"


def test_expire_drops_only_the_unseen_and_the_timeout_is_live() -> None:
    states: TrackStates[State] = TrackStates(reset_after_s=1.0)
    states[1], states[2] = State(0), State(S // 2)
    states.expire(S + S // 4)
    assert states.get(1) is None and states.get(2) is not None
    states.set_timeout(0.5)
    assert states.break_reason(2, S + S // 4) == "stale"
    states.forget(2)
    states.forget(2)  # nothing to forget: no error
    states[3] = State(0)
    states.clear()
    assert states.get(3) is None
