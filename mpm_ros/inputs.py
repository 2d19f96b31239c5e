"""Bounds on what one input message may cost or carry, checked before decoding (ROS-free).

A keypoints message is refused on its serialised size before it is deserialised, at most `max_tracks`
skeletons of a message are decoded, and strings from the wire are clipped before they reach a log line.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

MAX_FRAME_ID_CHARS = 256
# Serialised Skeleton2D budget: 17 keypoints x 12 bytes + track id + a layout name, with room to spare
# (a 17-joint skeleton with a 6-character layout serialises to ~224 bytes).
MAX_SKELETON_BYTES = 512
MESSAGE_OVERHEAD_BYTES = 4096  # header (stamp + frame_id up to MAX_FRAME_ID_CHARS) and sequence lengths
LOG_CLIP_CHARS = 120


MIN_SKELETONS_DECODED = 64  # a crowd larger than max_tracks still decodes (the extra people are counted)


def max_message_bytes(max_tracks: int) -> int:
    """Largest keypoints message decoded: room for max(64, 2 x max_tracks) skeletons (~2.5 ms to deserialise 64)."""
    return MESSAGE_OVERHEAD_BYTES + max(MIN_SKELETONS_DECODED, 2 * max_tracks) * MAX_SKELETON_BYTES


def clip(text: str, limit: int = LOG_CLIP_CHARS) -> str:
    """`text` shortened for a log line, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def frame_id_problem(frame_id: str) -> str | None:
    """Why a frame_id must not be copied into the outputs (None: fine)."""
    if len(frame_id) > MAX_FRAME_ID_CHARS:
        return f"frame_id of {len(frame_id)} characters"
    if not frame_id.isprintable() or any(c.isspace() for c in frame_id):
        return f"frame_id {clip(frame_id, 40)!r} holds whitespace or non-printable characters"
    return None


@dataclass
class Selection:
    kept: list[Any] = field(default_factory=list)  # Skeleton2D-like objects to decode, in message order
    dropped: Counter = field(default_factory=Counter)  # per reason: duplicate_track_id, too_many_tracks


def select_skeletons(skeletons: Sequence[Any], live_ids: set[int], max_tracks: int) -> Selection:
    """The skeletons worth decoding: the first of each track id, live tracks always, new tracks while slots are free.

    Only `track_id` is read, so an oversized batch costs one cheap pass and no keypoint decoding.
    """
    selection, seen = Selection(), set()
    free = max_tracks - len(live_ids)
    for skeleton in skeletons:
        track_id = skeleton.track_id
        if track_id in seen:
            selection.dropped["duplicate_track_id"] += 1
            continue
        seen.add(track_id)
        if track_id in live_ids:
            selection.kept.append(skeleton)
        elif free > 0:
            selection.kept.append(skeleton)
            free -= 1
        else:
            selection.dropped["too_many_tracks"] += 1
    return selection
