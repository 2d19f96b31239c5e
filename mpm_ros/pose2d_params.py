"""Parameters of the mpm_pose2d node: one table (the generic rules of mpm_ros/param_table.py) and its record.
`min_confidence` is the lifter's declaration (StreamOptions: default, range), described in this node's words."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpm_model.streaming import StreamOptions
from mpm_model.vision.detectors import DETECTORS
from mpm_ros.param_table import AUTOSTART, ParamSpec, ParamTable, specs_from

_MIN_CONFIDENCE = next(s for s in specs_from(StreamOptions, descriptions={
    "min_confidence": "Keypoints below this confidence are drawn hollow and not used to match tracks (set it to "
                      "the lifter's min_confidence)"}) if s.name == "min_confidence")

TABLE = ParamTable((
    ParamSpec("detector", "mediapipe", "2D pose detector: mediapipe = BlazePose (offline .task, 1+ people); "
              "yolo_onnx = a YOLO-pose ONNX model you supply in model_path (multi-person)", choices=DETECTORS),
    ParamSpec("model_path", "", "Detector model file; empty = the BlazePose .task built by make setup "
              "($MPM_POSE_TASK or <venv>/share/mpm_ros/models/pose_landmarker_full.task); required for yolo_onnx"),
    ParamSpec("max_people", 1, "People detected per image (MediaPipe: num_poses; YOLO: kept after NMS)", 1, 64),
    ParamSpec("min_detection_confidence", 0.5, "Detector score below which a person is not reported", 0.0, 1.0),
    ParamSpec("track_max_age", 0.5, "Seconds (image stamp time) a track survives unmatched before its id is "
              "retired", 0.01, 60.0),
    ParamSpec("track_max_distance", 0.5, "Largest mean keypoint distance (in track box sizes) to match a "
              "detection to a track", 0.01, 10.0),
    ParamSpec("input_qos_depth", 2, "Depth of the image / camera_info subscriptions (best effort, which takes "
              "best-effort and reliable publishers; image reliable with image_reliable)", 1, 1000),
    ParamSpec("image_reliable", False, "Subscribe to `image` reliably (camera_info stays best effort), so that "
              "images lost in transport are sent again (a 900 KB 640x480 rgb8 image is many UDP fragments; "
              "docs/CAMERA.md); the camera must then publish reliably, else no image arrives (counted "
              "image.incompatible_qos, warned)"),
    ParamSpec("output_qos_depth", 10, "Depth of the reliable keypoints / overlay publishers", 1, 1000),
    ParamSpec("publish_overlay", False, "Publish `overlay` (sensor_msgs/Image): the image with the 2D keypoints "
              "and the lifter's 3D skeletons (subscribed on `skeletons3d`) reprojected"),
    ParamSpec("overlay_wait_frames", 15, "Frames an image waits for its 3D skeletons before the overlay is "
              "published 2D-only", 1, 300),
    _MIN_CONFIDENCE,
    AUTOSTART,
))
PARAMS = TABLE.specs
SPECS = TABLE.by_name


@dataclass(frozen=True)
class Pose2DParams:
    detector: str
    model_path: str
    max_people: int
    min_detection_confidence: float
    track_max_age: float
    track_max_distance: float
    input_qos_depth: int
    image_reliable: bool
    output_qos_depth: int
    publish_overlay: bool
    overlay_wait_frames: int
    min_confidence: float
    autostart: bool


def validate(values: dict[str, Any]) -> list[str]:
    """Every problem with a full set of values, as sentences (empty = valid)."""
    errors = TABLE.validate(values)
    if not errors and values["model_path"] and not Path(values["model_path"]).is_file():
        errors.append(f"model_path={values['model_path']!r} does not exist")
    if not errors and values["detector"] == "yolo_onnx" and not values["model_path"]:
        errors.append("detector yolo_onnx needs model_path: a YOLO-pose .onnx you supply (none ships: the common "
                      "weights are AGPL-3.0)")
    return errors


def to_params(values: dict[str, Any]) -> Pose2DParams:
    return TABLE.build(Pose2DParams, values)
