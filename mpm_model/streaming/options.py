"""The streaming lifter's tunable options, declared once (default, range, description: mpm_model.tunable), the
one record that carries them all to StreamingLifter (LifterOptions), and the one confidence rule every consumer of
keypoint confidences uses. Torch-free: a launch file may import it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpm_model.streaming.depth import DepthOptions
from mpm_model.streaming.smoothing import SmoothingOptions
from mpm_model.streaming.temporal import TemporalOptions
from mpm_model.tunable import check, tunable


@dataclass(frozen=True)
class StreamOptions:
    """The tunable part of streaming (the model's shape comes from its config). All may change while streaming."""

    min_confidence: float = tunable(0.3, "Keypoints below this confidence are masked", 0.0, 1.0)
    min_visible_joints: int = tunable(4, "A track's frame with fewer visible (unmasked) joints is not used: no "
                                      "output for it, a new track is not started, the drop is counted", 1, 17)
    track_timeout: float = tunable(1.0, "Seconds (input stamp time) without a track before it expires (its markers "
                                   "are deleted)", 0.01, 3600.0)
    max_tracks: int = tunable(16, "Tracks kept at once; skeletons of further new tracks are dropped (counted)", 1, 256)
    frame_rate: float = tunable(0.0, "Input frame rate in Hz for gap detection; 0 = estimate from stamps", 0.0, 1000.0)
    place_in_camera_frame: bool = tunable(True, "Estimate the root translation from camera intrinsics (camera_info, "
                                          "or focal_length > 0); otherwise outputs are root-relative")
    mirror_max_tracks: int = tunable(4, "Lift every window also mirrored left/right (same batch) and average the two "
                                     "3D answers while a frame lifts at most this many tracks: steadier, more "
                                     "accurate skeletons for twice the lifter's compute; 0 = never "
                                     "(docs/TEMPORAL.md \"Mirrored lifting\")", 0, 256)
    gap_fill_frames: int = tunable(8, "A joint hidden for at most this many frames is bridged in the lifter's input: "
                                   "between two sightings linearly, after its last one carried on along half its "
                                   "last step per frame (the published confidence still says it was hidden); "
                                   "0 = never (docs/TEMPORAL.md \"Bridging short gaps\")", 0, 243)

    def __post_init__(self) -> None:
        check(self)

    def mirrors(self, tracks: int) -> bool:
        """Whether a frame lifting this many tracks lifts each window mirrored too (mirror_max_tracks)."""
        return tracks <= self.mirror_max_tracks


@dataclass(frozen=True)
class LifterOptions:
    """Everything StreamingLifter reads while streaming, as one record: its constructor and set_options take it
    whole, and every part reaches the state that uses it (windows, depth sampling, pose filter, root state)."""

    stream: StreamOptions = StreamOptions()
    depth: DepthOptions = DepthOptions()
    smoothing: SmoothingOptions = SmoothingOptions()
    temporal: TemporalOptions = TemporalOptions()


def confident(confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """True where a keypoint counts as seen: confidence at or above `min_confidence`, and above 0 (a zero
    confidence is never a detection, whatever the threshold). NaN is never confident."""
    confidence = np.asarray(confidence)
    with np.errstate(invalid="ignore"):
        return (confidence >= min_confidence) & (confidence > 0)
