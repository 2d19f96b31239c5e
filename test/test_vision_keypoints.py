"""Detector / publisher keypoint layouts → COCO-17."""
import numpy as np
import pytest

from mpm_model.skeleton import COCO_JOINTS
from mpm_model.vision.keypoints import (BLAZEPOSE33_TO_COCO17, blazepose33_to_coco17, coco18_to_coco17,
                                        densify_coco17, keypoint_box)

# The names of BlazePose's 33 landmarks (MediaPipe PoseLandmark order).
BLAZEPOSE = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
             "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
             "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
             "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
             "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
             "left_foot_index", "right_foot_index")
# hri_msgs/Skeleton2D constants (REP-155).
HRI = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
       "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
       "left_eye", "right_eye", "left_ear", "right_ear")


def test_blazepose_mapping_picks_the_coco_joints_by_name() -> None:
    assert tuple(BLAZEPOSE[i] for i in BLAZEPOSE33_TO_COCO17) == COCO_JOINTS
    keypoints = np.arange(66, dtype=np.float32).reshape(33, 2)
    out, conf = blazepose33_to_coco17(keypoints, np.linspace(0, 1, 33))
    assert out.shape == (17, 2) and conf.shape == (17,)
    np.testing.assert_array_equal(out[11], keypoints[23])  # left hip


def test_hri_mapping_picks_the_coco_joints_by_name() -> None:
    values = np.array([[i, 10 * i] for i in range(18)], np.float32)
    out, conf = coco18_to_coco17(values, np.arange(18, dtype=np.float32))
    assert tuple(HRI[int(i)] for i in conf) == COCO_JOINTS
    with pytest.raises(ValueError, match="expected \\(18, 2\\)"):
        coco18_to_coco17(values[:17], np.zeros(17))


def test_densify_sparse_one_based_ids() -> None:
    keypoints, confidence = densify_coco17([1, 17, 6], [(10, 11), (20, 21), (30, 31)], [0.9, 0.8, 0.7])
    assert confidence[0] == pytest.approx(0.9) and confidence[16] == pytest.approx(0.8)
    np.testing.assert_array_equal(keypoints[5], [30, 31])
    assert (confidence[[1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]] == 0).all()  # absent = confidence 0
    with pytest.raises(ValueError, match="ids must be in \\[1, 17\\]"):
        densify_coco17([0], [(1, 1)], [1.0])
    with pytest.raises(ValueError, match="repeated"):
        densify_coco17([3, 3], [(1, 1), (2, 2)], [1.0, 1.0])


def test_keypoint_box_ignores_unconfident_points() -> None:
    box = keypoint_box(np.array([[0, 0], [10, 20], [100, 100]]), np.array([0.9, 0.9, 0.1]), 0.3)
    np.testing.assert_array_equal(box, [0, 0, 10, 20])
    assert keypoint_box(np.zeros((3, 2)), np.array([0.9, 0.0, 0.0]), 0.3) is None
