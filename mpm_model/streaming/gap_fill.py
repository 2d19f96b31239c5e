"""Short gaps in a joint's 2D bridged before the lifter: a hidden joint between two sightings is interpolated, a
joint hidden in the newest frames is carried on from its last sighting along part of its last step.

Why: the lifter reads each frame as one whole-pose token, so one hidden joint in the newest frame makes the whole
newest token uncertain and the answer leans on older frames — for every joint, not just the hidden one (TEMPORAL
"Bridging short gaps"). A joint seen a few frames ago is better known from its own track than from nothing. Only
the lifter's input changes: the published confidence and mask still say which joints the detector saw.
Torch-free, vectorised over (B, J).
"""
from __future__ import annotations

import numpy as np

STEP_FRACTION = 0.5  # of the joint's last frame-to-frame step, per frame hidden, when carried on from its sighting


def fill_gaps(keypoints: np.ndarray, mask: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, J, 2) keypoints + (B, T, J) mask (True = hidden) → the same with every gap of at most `max_gap`
    frames filled and unmasked: interior gaps linearly between the sightings around them, a trailing gap (hidden up
    to the newest frame, last seen at most `max_gap` frames before it) from the last sighting plus STEP_FRACTION of
    its last step (when the frame before it was seen too) per frame. Leading gaps stay masked; 0 = no filling."""
    if max_gap <= 0 or not mask.any():
        return keypoints, mask
    frames = mask.shape[1]
    index = np.arange(frames)[None, :, None]  # (1, T, 1)
    seen = ~mask  # (B, T, J)
    before = np.maximum.accumulate(np.where(seen, index, -1), axis=1)  # (B, T, J) last sighting at or before t
    after = np.flip(np.minimum.accumulate(np.flip(np.where(seen, index, frames), axis=1), axis=1), axis=1)
    prev = np.maximum(before, 0)
    at_prev = np.take_along_axis(keypoints, prev[..., None], axis=1)  # (B, T, J, 2)
    interior = mask & (before >= 0) & (after < frames) & (after - before - 1 <= max_gap)
    span = np.maximum(after - before, 1)
    weight = ((index - before) / span)[..., None]  # (B, T, J, 1)
    at_next = np.take_along_axis(keypoints, np.minimum(after, frames - 1)[..., None], axis=1)
    # no sighting after t: `before` is the joint's last sighting in the window, which must be ≤ max_gap from the end
    trailing = mask & (after >= frames) & (before >= 0) & (frames - 1 - before <= max_gap)
    earlier = np.maximum(prev - 1, 0)  # (B, T, J) the frame before the sighting
    step_seen = np.take_along_axis(seen, earlier, axis=1) & (prev >= 1)
    at_step = np.take_along_axis(keypoints, earlier[..., None], axis=1)
    step = np.where(step_seen[..., None], at_prev - at_step, 0.0)  # (B, T, J, 2)
    carried = at_prev + STEP_FRACTION * (index - before)[..., None] * step
    filled = np.where(interior[..., None], at_prev + weight * (at_next - at_prev),
                      np.where(trailing[..., None], carried, keypoints))
    return filled.astype(keypoints.dtype), mask & ~(interior | trailing)
