"""How far a stream's stamps run ahead of the receive clock, for the window buffer's stamp rule.

Each frame's offset is `stamp - arrival` (its stamp clock minus the monotonic receive clock: a constant plus the
frame's transport delay, with the sign flipped). The reference is the offset of the least-delayed frame seen, so
a frame that arrives late (a node that fell behind, a burst of queued messages) has a lead <= 0, and a frame whose
stamp ran ahead of the receive clock — a publisher sending 10 s of stamps within 1 s, a bag played faster than
real time with its original stamps — has a lead that grows with every frame. Each frame can only move the
reference by a small fraction of a period (`FOLLOW`: clock drift and jitter), so a stream running ahead can never
carry the reference along with it. Pure Python, ROS-free.
"""
from __future__ import annotations

FOLLOW = 0.05  # of a frame period: the most one accepted frame may move the reference ahead (drift, jitter)


class ReceiveClockReference:
    """The least-delayed accepted frame's offset `stamp - arrival`; None until the first accepted frame."""

    def __init__(self) -> None:
        self.offset_ns: int | None = None

    def lead_ns(self, stamp_ns: int, arrival_ns: int | None) -> int | None:
        """How far this stamp runs ahead of the receive clock, relative to the reference (None: cannot tell)."""
        if arrival_ns is None or self.offset_ns is None:
            return None
        return stamp_ns - arrival_ns - self.offset_ns

    def accept(self, stamp_ns: int, arrival_ns: int | None, period_ns: int | None) -> None:
        """Update with an accepted frame: the first one sets the reference; later ones raise it by at most
        FOLLOW periods (a frame further ahead was accepted for its own sake, but moves nothing)."""
        if arrival_ns is None:
            return
        offset = stamp_ns - arrival_ns
        if self.offset_ns is None:
            self.offset_ns = offset
        elif offset - self.offset_ns <= FOLLOW * (period_ns or 0):
            self.offset_ns = max(self.offset_ns, offset)

    def reset(self) -> None:
        """Forget the reference: the next accepted frame (a new timeline) sets it."""
        self.offset_ns = None


def agree_with_receive_clock(frames: list[tuple[int, int | None]], period_ns: int | None) -> bool:
    """Whether consecutive (stamp, arrival) frames do not run ahead of the receive clock (later offsets stamp -
    arrival at most half a period of jitter above the first): a publisher whose clock stepped, or a slow feeder,
    agrees; a stream that keeps running ahead (by 2x real time or more) does not. Frames without an arrival time
    agree (nothing to compare)."""
    offsets = [stamp - arrival for stamp, arrival in frames if arrival is not None]
    if len(offsets) < 2 or period_ns is None:
        return True
    return max(offsets[1:]) - offsets[0] <= period_ns // 2
