"""Per-track state that the temporal stages (RootFilter, PoseRefiner, JointSmoother, PoseLead) hold from frame to
frame, with the one rule they share: a track's state continues while its stamps move forward and it was seen within
`reset_after_s` (the stream's track_timeout); otherwise the track starts afresh. States unseen for longer are
dropped at each frame, so the ids of people who left do not pile up."""
from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Stamped(Protocol):
    stamp_ns: int  # the source frame the state was last advanced to


S = TypeVar("S", bound=Stamped)


class TrackStates(Generic[S]):
    """track id → its state; `expire` once per frame."""

    def __init__(self, reset_after_s: float = 1.0) -> None:
        self._states: dict[int, S] = {}
        self.set_timeout(reset_after_s)

    def set_timeout(self, reset_after_s: float) -> None:
        """Live: the next frame judges continuity and expiry with it."""
        self.reset_after_ns = int(reset_after_s * 1e9)

    def break_reason(self, track: int, stamp_ns: int) -> str | None:
        """Why the track's state cannot continue at `stamp_ns`: "stamp_back" (not later than the state), "stale"
        (unseen for longer than reset_after_s); None when it continues or there is none."""
        state = self._states.get(track)
        if state is None:
            return None
        if stamp_ns <= state.stamp_ns:
            return "stamp_back"
        return "stale" if stamp_ns - state.stamp_ns > self.reset_after_ns else None

    def continuing(self, track: int, stamp_ns: int) -> S | None:
        """The track's state if it continues at `stamp_ns`; else None, and a broken state is forgotten."""
        if self.break_reason(track, stamp_ns):
            del self._states[track]
        return self._states.get(track)

    def get(self, track: int) -> S | None:
        return self._states.get(track)

    def __getitem__(self, track: int) -> S:
        return self._states[track]

    def __setitem__(self, track: int, state: S) -> None:
        self._states[track] = state

    def __len__(self) -> int:
        return len(self._states)

    def forget(self, track: int) -> None:
        self._states.pop(track, None)

    def clear(self) -> None:
        self._states.clear()

    def expire(self, stamp_ns: int) -> None:
        """Drop the states unseen for longer than reset_after_s at `stamp_ns`."""
        for track in [t for t, state in self._states.items() if stamp_ns - state.stamp_ns > self.reset_after_ns]:
            del self._states[track]
