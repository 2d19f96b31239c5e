"""Keypoints message → observations for StreamingLifter, plus what was dropped and why (ROS-free).

What the lifter's input callback does before `push()`: the size check before anything is decoded, the CDR read
(mpm_ros.keypoints_wire; an unknown encapsulation goes to the caller's `fallback`, rclpy in the node), the
frame_id rule (outputs take `output_frame_id`, else the keypoints' header.frame_id, else the camera_info's; with
none of them the frame is refused: `empty_frame_id`, since TF cannot place a frame called ""), the stamp judged before any skeleton is converted (`StreamingLifter.admit`), at most max_tracks
skeletons converted (live tracks first) and each one's layout mapped to H36M-17. Every refusal is a `Drop` with
its diagnostics reason and the log sentence; nothing here raises on bad input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mpm_model.streaming import RESETS, Observation, StreamingLifter
from mpm_ros import keypoints_wire
from mpm_ros.inputs import MAX_FRAME_ID_CHARS, clip, frame_id_problem, max_message_bytes, select_skeletons
from mpm_ros.layouts import LayoutError, to_h36m17


@dataclass(frozen=True)
class Drop:
    reason: str  # the dropped.<reason> counter
    count: int
    message: str | None  # the warning to log (throttled per reason), None: count only


@dataclass
class Decoded:
    """One message: the frame to push (None when the whole frame was dropped) and the drops on the way."""

    drops: list[Drop] = field(default_factory=list)
    stamp_ns: int = 0
    frame_id: str = ""  # the outputs' frame_id
    input_frame_id: str = ""  # the keypoints' own header.frame_id, else the camera_info's: whose camera applies
    admitted: str = ""  # StreamingLifter.admit's verdict: "ok" or a RESETS entry when `observations` is set
    observations: dict[int, Observation] | None = None


class FrameDecoder:
    """Decodes for one StreamingLifter (its stamp judgement, live tracks and max_tracks)."""

    def __init__(self, lifter: StreamingLifter, fallback: Callable[[bytes], keypoints_wire.WireFrame]) -> None:
        self.lifter, self._fallback = lifter, fallback

    def decode_bytes(self, data: bytes, arrival_ns: int | None, output_frame_id: str = "",
                     camera_frame_id: str = "") -> Decoded:
        """A serialised Skeleton2DArray, received at `arrival_ns` on the receive clock (the node's: monotonic, or
        sim time under use_sim_time; None: unknown)."""
        max_tracks = self.lifter.options.stream.max_tracks
        limit = max_message_bytes(max_tracks)
        if len(data) > limit:
            return Decoded([Drop("oversized_message", 1, f"dropping a {len(data)}-byte keypoints message (limit "
                                 f"{limit} bytes for max_tracks={max_tracks})")])
        try:
            frame = keypoints_wire.read_skeleton2d_array(data)
        except keypoints_wire.WireError as exc:
            return Decoded([Drop("malformed_message", 1, f"dropping a malformed keypoints message: {clip(str(exc))}")])
        if frame is None:  # an encapsulation the numpy reader does not know
            frame = self._fallback(data)
        return self.decode(frame, arrival_ns, output_frame_id, camera_frame_id)

    def decode(self, msg: keypoints_wire.WireFrame, arrival_ns: int | None, output_frame_id: str = "",
               camera_frame_id: str = "") -> Decoded:
        """An already read frame: frame_id, stamp, skeleton selection and layouts."""
        out = Decoded(stamp_ns=msg.stamp_ns, frame_id=output_frame_id or msg.frame_id or camera_frame_id,
                      input_frame_id=msg.frame_id or camera_frame_id)
        if not out.frame_id:
            out.drops.append(Drop("empty_frame_id", 1, "dropping a frame with an empty header.frame_id and no "
                                  "camera_info frame_id to use instead: TF cannot place its outputs (set "
                                  "output_frame_id, or publish camera_info from the camera's frame)"))
            return out
        problem = frame_id_problem(out.frame_id)
        if problem:
            out.drops.append(Drop("invalid_frame_id", 1, f"dropping a frame: {problem} (max {MAX_FRAME_ID_CHARS} "
                                  "printable characters; or set output_frame_id)"))
            return out
        lifter = self.lifter
        out.admitted = lifter.admit(msg.stamp_ns, arrival_ns)  # before decoding: a refusal costs nothing
        if out.admitted not in ("ok",) + RESETS:
            out.drops.append(Drop(out.admitted, 1, f"dropping frame with stamp {msg.stamp_ns / 1e9:.6f} s: "
                                  f"{out.admitted}"))
            return out
        if not msg.skeletons:
            out.drops.append(Drop("empty_message", 1, None))
        max_tracks = lifter.options.stream.max_tracks
        live = set() if out.admitted in RESETS else set(lifter.track_ids)  # a reset frees every slot
        selection = select_skeletons(msg.skeletons, live, max_tracks)
        out.drops += [Drop(reason, count, f"dropped {count} skeleton(s): {reason} (max_tracks={max_tracks})")
                      for reason, count in selection.dropped.items()]
        out.observations = {}
        for skeleton in selection.kept:
            try:
                pixels, confidence = to_h36m17(skeleton.layout, skeleton.keypoints[:, :2], skeleton.keypoints[:, 2])
            except LayoutError as exc:
                out.drops.append(Drop(exc.reason, 1, f"dropping track {skeleton.track_id}: {exc.reason} (layout "
                                      f"{clip(skeleton.layout, 32)!r}, {len(skeleton.keypoints)} keypoints)"))
                continue
            out.observations[skeleton.track_id] = Observation(pixels, confidence)
        return out
