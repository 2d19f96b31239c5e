"""layouts: h36m17 passes through, coco17 maps to H36M-17 with synthesised joints, bad skeletons are refused."""
import numpy as np
import pytest

from mpm_model.skeleton import COCO_JOINTS, H36M_JOINTS
from mpm_ros.layouts import LayoutError, to_h36m17


def coco_example() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.uniform(0, 500, size=(17, 2)).astype(np.float32), rng.uniform(0.5, 1.0, 17).astype(np.float32)


def test_h36m17_is_identity() -> None:
    pixels, confidence = coco_example()
    out_pixels, out_confidence = to_h36m17("h36m17", pixels, confidence)
    np.testing.assert_array_equal(out_pixels, pixels)
    np.testing.assert_array_equal(out_confidence, confidence)


def test_coco17_synthesised_joints() -> None:
    pixels, confidence = coco_example()
    out, conf = to_h36m17("coco17", pixels, confidence)
    coco = {name: i for i, name in enumerate(COCO_JOINTS)}
    h36m = {name: i for i, name in enumerate(H36M_JOINTS)}
    hips = pixels[[coco["left_hip"], coco["right_hip"]]]
    shoulders = pixels[[coco["left_shoulder"], coco["right_shoulder"]]]
    np.testing.assert_allclose(out[h36m["pelvis"]], hips.mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[h36m["thorax"]], shoulders.mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[h36m["spine"]], (hips.mean(0) + shoulders.mean(0)) / 2, rtol=1e-5)
    np.testing.assert_array_equal(out[h36m["neck"]], pixels[coco["nose"]])
    for limb in ("left_wrist", "right_knee", "left_shoulder", "right_ankle"):
        np.testing.assert_array_equal(out[h36m[limb]], pixels[coco[limb]])
    assert conf[h36m["pelvis"]] == confidence[[coco["left_hip"], coco["right_hip"]]].min()


@pytest.mark.parametrize("layout, count, reason", [("openpose25", 17, "unknown_layout"),
                                                   ("coco17", 16, "wrong_joint_count"),
                                                   ("h36m17", 0, "wrong_joint_count")])
def test_bad_skeletons_raise_with_reason(layout: str, count: int, reason: str) -> None:
    with pytest.raises(LayoutError) as info:
        to_h36m17(layout, np.ones((count, 2)), np.ones(count))
    assert info.value.reason == reason
