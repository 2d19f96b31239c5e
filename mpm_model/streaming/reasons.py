"""Every reason the lifter counts an input as dropped or masked, registered once (ROS-free, torch-free).

The producers (window_buffer, placement, depth, depth_history, temporal, camera matching here; frame_decoder, inputs,
layouts and lift_node in mpm_ros) count under these names, the node's `PipelineStats` refuses a name that is not
here, and the load-health rules (mpm_ros.load_health) take the reasons that lose a whole input frame from here —
so a new reason cannot be missed by them. docs/NODE.md's two counter tables list exactly these names
(test/test_reasons.py checks both).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    meaning: str
    frame_loss: bool = False  # a whole input frame produced no output (load health counts it as lost)


# dropped.<reason>: the input (a frame, a skeleton or a side input) produced no output
DROPPED: dict[str, Reason] = {
    "oversized_message": Reason("keypoints message above the byte limit", frame_loss=True),
    "malformed_message": Reason("bytes that are not a well-formed Skeleton2DArray", frame_loss=True),
    "invalid_frame_id": Reason("header.frame_id too long, whitespace or non-printable", frame_loss=True),
    "empty_frame_id": Reason("no frame_id for the outputs", frame_loss=True),
    "duplicate_stamp": Reason("stamp equal to the last accepted", frame_loss=True),
    "out_of_order_stamp": Reason("stamp up to 1 s older than the last accepted", frame_loss=True),
    "stamp_outlier": Reason("stamp far from the stream's, not (yet) confirmed", frame_loss=True),
    "inference_queue_full": Reason("the worker is behind: the oldest job dropped", frame_loss=True),
    "inference_error": Reason("the backend raised", frame_loss=True),
    "internal_error": Reason("a bug in a callback", frame_loss=True),
    "empty_message": Reason("no skeletons (time still advances)"),
    "duplicate_track_id": Reason("a track id twice in one message"),
    "too_many_tracks": Reason("new tracks beyond max_tracks"),
    "wrong_joint_count": Reason("keypoint count differs from the layout's"),
    "unknown_layout": Reason("layout not h36m17 / coco17"),
    "too_few_visible_joints": Reason("fewer than min_visible_joints usable joints"),
    "invalid_camera_info": Reason("absurd camera_info size or K"),
    "depth.invalid_image": Reason("unknown encoding, or a buffer that does not fit"),
    "depth.size_mismatch": Reason("depth image of another size than its camera's (from the header, not decoded)"),
    "depth.incompatible_qos": Reason("a best-effort depth publisher while depth_reliable"),
    "tf_lookup_failed": Reason("tf_lookup: no transform to target_frame at the skeletons' stamp"),
    "tf_too_old": Reason("tf_lookup: the nearest transform is further than tf_max_age from the stamp"),
}

# masked.<reason>: the input was used, with parts masked or placement given up
MASKED: dict[str, Reason] = {
    "non_finite_keypoints": Reason("joints with NaN/inf values"),
    "outside_image": Reason("finite joints outside the image"),
    "confidence_above_one": Reason("joints with confidence above 1"),
    "missing_frames_masked": Reason("masked frames inserted for a stamp gap"),
    "root_fit_failed": Reason("skeletons whose root fit failed"),
    "camera_frame_mismatch": Reason("skeletons without a camera_info of their frame_id"),
    "camera_changed": Reason("skeletons whose intrinsics changed around their stamp"),
    "depth.no_image": Reason("skeletons without a depth image within depth_tolerance"),
    "depth.frame_mismatch": Reason("frames with depth images of another frame_id only"),
    "depth.behind": Reason("frames not waited for: depth runs behind"),
    "depth.arrived_late": Reason("frames whose depth image came after they were placed"),
    "depth.size_mismatch": Reason("skeletons whose depth image's size differs from their camera's"),
    "depth.rejected_hole": Reason("joint samples without depth"),
    "depth.rejected_in_front": Reason("joint samples in front of the person"),
    "depth.rejected_behind": Reason("joint samples behind the person"),
    "depth.too_few_samples": Reason("skeletons with too few depth samples (2D fit kept)"),
    "depth.beyond_prior_gate": Reason("skeletons placed by a strong group beyond the prior gate"),
    "depth.samples_used": Reason("joint samples used"),
    "depth.placed": Reason("skeletons placed with depth"),
    "temporal.root_gated": Reason("root fits rejected against the track's prediction"),
    "temporal.root_another_person": Reason("gated depth fits another track's surer depth fit explains: no restart"),
    "temporal.root_predicted": Reason("skeletons whose root was predicted (placement PREDICTED)"),
    "temporal.prediction_expired": Reason("skeletons root-relative after root_max_prediction without a fit"),
    "temporal.root_invalid": Reason("root fits that were NaN or absurd"),
    "temporal.reset_reacquired": Reason("root states restarted from a fit after a lost prediction"),
    "temporal.reset_stale": Reason("root states restarted: the track was unseen beyond track_timeout"),
    "temporal.reset_stamp_back": Reason("root states restarted: the track's stamps went back"),
    "temporal.reset_camera_changed": Reason("root states restarted: another camera matrix"),
    "ground.contacts": Reason("feet learned as on the floor (ground_plane)"),
    "ground.contact_gated": Reason("lower ankles beyond ground_gate from their track's floor: no contact"),
    "ground.foot_invalid": Reason("fitted feet that were NaN or absurd"),
    "ground.plane_reset": Reason("floor estimates restarted: the feet left the given floor (camera tilted) or "
                                 "another camera"),
    "ground.corrected": Reason("2D-fit roots scaled by their track's size factor against the floor"),
    "ground.factor_refused": Reason("size factors beyond 1.4x either way, not used"),
    "ground.no_floor": Reason("skeletons of frames without a floor (none given, or ground_frame not found)"),
    "ground.floor_invalid": Reason("skeletons of frames whose given floor was no floor (camera not above it)"),
    "ground.floor_changed": Reason("floor estimates restarted: the parameters' floor set, or its source switched to/from TF"),
    "ground.tf_missing": Reason("frames whose ground_frame tf2 lookup failed or was older than tf_max_age"),
    "refiner.present_gated": Reason("joints whose 2D disagreed with the lifted pose: no 2D present correction"),
}

FRAME_LOSSES = frozenset(name for name, reason in DROPPED.items() if reason.frame_loss)
