"""Depth-aided root placement without ROS: decoding, the robust sampling (holes, occluders, background, wrong
depth), and the fit on an image rendered from a body of capsules (mpm_ros.bags.depth_render)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mpm_model.data.mocap import load_mocap
from mpm_model.streaming.depth import (PELVIS_HALF_WIDTH_M, SURFACE_OFFSET_M, DepthImage, DepthOptions, decode_depth,
                                       surface_offsets)
from mpm_model.streaming.placement import (DEPTH, NOT_PLACED, REPROJECTION, FitQualities, FitQuality, place,
                                           pose_lateral_sigma, root_translations)
from mpm_ros.bags.depth_render import Capsule, DepthRenderer, body_capsules
from mpm_ros.bags.rgbd_scene import rgbd_camera

ROOT = Path(__file__).resolve().parents[1]
CAM = rgbd_camera()
K = CAM.intrinsics


def person(depth_m: float) -> np.ndarray:
    """(17, 3) camera-frame joints of a real mocap pose with its root `depth_m` in front of the camera."""
    pose = load_mocap(ROOT / "mpm_model/assets/demo_clip.npz")[0].poses3d[100]
    world = pose - [pose[0, 0], pose[0, 1], 0] + [0.2, depth_m, 0]
    return world @ CAM.rotation.T + CAM.translation


def render(joints: np.ndarray, extra: list[Capsule] = ()) -> DepthImage:
    renderer = DepthRenderer(K, CAM.width, CAM.height, CAM.rotation, CAM.translation, wall_depth_m=9.5)
    depth, _ = renderer.render(body_capsules(joints, 1) + list(extra))
    return DepthImage(depth.astype(np.float32))


def pixels_of(joints: np.ndarray) -> np.ndarray:
    return joints[:, :2] / joints[:, 2:] * [K[0, 0], K[1, 1]] + K[:2, 2]


def biased_lift(joints: np.ndarray, scale: float = 1.12) -> np.ndarray:
    """What a lifter gets wrong most: the person's size (→ the 2D fit's distance)."""
    return (joints - joints[0]) * scale


@pytest.mark.parametrize("distance", [1.8, 4.0, 6.5])
def test_depth_fixes_the_distance_the_2d_fit_gets_wrong(distance: float) -> None:
    joints = person(distance)
    lifted, pixels, weights = biased_lift(joints)[None], pixels_of(joints)[None], np.ones((1, 17))
    two_d, solved = root_translations(lifted, pixels, weights, K)
    assert solved[0] and abs(two_d[0, 2] - joints[0, 2]) > 0.08 * distance  # 12 % too big → ~12 % too far
    result = place(lifted, pixels, weights, K, [render(joints)])
    assert result.method.tolist() == [DEPTH]
    assert np.linalg.norm(result.translation[0] - joints[0]) < 0.06, result.translation[0] - joints[0]
    assert result.counts["depth.samples_used"] >= 8 and result.counts["depth.placed"] == 1
    assert result.quality.samples.tolist() == [result.counts["depth.samples_used"]]  # what the root state averages over


def test_a_strong_depth_group_is_believed_beyond_the_prior_gate() -> None:
    """A lifted skeleton 35 % too small puts the 2D fit 35 % too near, past the 25 % gate: when most of the
    person's samples agree (the whole body seen) depth still places it; with 3 joints seen it does not."""
    joints = person(4.0)
    lifted, pixels = biased_lift(joints, 0.65)[None], pixels_of(joints)[None]
    two_d, _ = root_translations(lifted, pixels, np.ones((1, 17)), K)
    assert joints[0, 2] - two_d[0, 2] > 0.3 * joints[0, 2]
    result = place(lifted, pixels, np.ones((1, 17)), K, [render(joints)])
    assert result.method.tolist() == [DEPTH] and result.counts["depth.beyond_prior_gate"] == 1
    assert np.linalg.norm(result.translation[0] - joints[0]) < 0.1, result.translation[0] - joints[0]
    few = np.zeros((1, 17))
    few[0, [0, 1, 4]] = 1.0  # pelvis and hips: 3 samples < 2 x depth_min_samples
    weak = place(lifted, pixels, few, K, [render(joints)])
    assert weak.method.tolist() == [REPROJECTION] and weak.counts["depth.too_few_samples"] == 1
    assert weak.counts["depth.beyond_prior_gate"] == 0


def test_pelvis_surface_offset_follows_the_body_orientation() -> None:
    """Facing the camera the belly is SURFACE_OFFSET_M[0] in front of the pelvis; side on, the hip is
    PELVIS_HALF_WIDTH_M in front of it; other joints keep their constant offsets."""
    joints = np.zeros((2, 17, 3))
    joints[:, 8] = [0.0, -0.5, 0.0]  # thorax above the pelvis (camera y points down)
    joints[0, 1], joints[0, 4] = [-0.1, 0, 0], [0.1, 0, 0]  # hips across the image: facing the camera
    joints[1, 1], joints[1, 4] = [0, 0, -0.1], [0, 0, 0.1]  # hips along the camera axis: side on
    offsets = surface_offsets(joints)
    assert offsets[0, 0] == pytest.approx(SURFACE_OFFSET_M[0]) and offsets[1, 0] == pytest.approx(PELVIS_HALF_WIDTH_M)
    np.testing.assert_allclose(offsets[:, 1:], np.broadcast_to(SURFACE_OFFSET_M[1:], (2, 16)))


def test_missing_or_empty_depth_falls_back_to_the_2d_fit_exactly() -> None:
    joints = person(4.0)
    lifted, pixels, weights = biased_lift(joints)[None], pixels_of(joints)[None], np.ones((1, 17))
    two_d = place(lifted, pixels, weights, K)
    holes = DepthImage(np.full((CAM.height, CAM.width), np.nan, np.float32))
    for depth, reason in (([None], "depth.no_image"), ([holes], "depth.too_few_samples")):
        result = place(lifted, pixels, weights, K, depth)
        assert result.method.tolist() == [REPROJECTION] and result.counts[reason] == 1
        assert result.quality.samples.tolist() == [0]
        np.testing.assert_array_equal(result.translation, two_d.translation)
    assert place(lifted, pixels, weights, K, [holes]).counts["depth.rejected_hole"] == 17


def test_wrong_depth_never_moves_the_root() -> None:
    """A depth image of twice the true distance (wrong scale) or of a wall right in front of the camera."""
    joints = person(3.0)
    lifted, pixels, weights = biased_lift(joints)[None], pixels_of(joints)[None], np.ones((1, 17))
    two_d = place(lifted, pixels, weights, K)
    for wrong in (render(joints).depth_m * 2.0, np.full((CAM.height, CAM.width), 0.8, np.float32)):
        result = place(lifted, pixels, weights, K, [DepthImage(wrong)])
        assert result.method.tolist() == [REPROJECTION]
        np.testing.assert_array_equal(result.translation, two_d.translation)
        assert result.counts["depth.too_few_samples"] == 1


def test_occluder_in_front_and_background_behind_are_rejected() -> None:
    joints = person(4.0)
    # A pole 2.5 m from the camera in front of the person's right side, and keypoints of the thin left forearm
    # pushed 6 px off the limb (background behind it).
    pole = Capsule(np.array([joints[1, 0] - 0.05, -1.0, 2.5]), np.array([joints[1, 0] - 0.05, 1.0, 2.5]), 0.15, 99)
    pixels = pixels_of(joints)
    pixels[13] += [0.0, 14.0]
    lifted, weights = biased_lift(joints, 1.08)[None], np.ones((1, 17))
    result = place(lifted, pixels[None], weights, K, [render(joints, [pole])])
    assert result.counts["depth.rejected_in_front"] >= 2 and result.counts["depth.rejected_behind"] >= 1
    assert result.method.tolist() == [DEPTH]
    assert np.linalg.norm(result.translation[0] - joints[0]) < 0.08


def test_batch_mixes_depth_reprojection_and_unplaceable() -> None:
    near, far = person(2.0), person(5.0)
    lifted = np.stack([biased_lift(near), biased_lift(far), biased_lift(far)])
    pixels = np.stack([pixels_of(near), pixels_of(far), pixels_of(far)])
    weights = np.ones((3, 17))
    weights[2] = 0.0
    image = render(near)
    k = np.stack([K, K, K])
    result = place(lifted, pixels, weights, k, [image, None, image])
    assert result.method.tolist() == [DEPTH, REPROJECTION, NOT_PLACED]
    assert result.quality.samples[0] >= 8 and result.quality.samples[1:].tolist() == [0, 0]
    assert isinstance(result.counts, Counter) and result.counts["depth.no_image"] == 1


@pytest.mark.parametrize("encoding, dtype, scale", [("16UC1", "<u2", 1000.0), ("32FC1", "<f4", 1.0)])
def test_decode_depth(encoding: str, dtype: str, scale: float) -> None:
    metres = np.array([[1.5, 0.0, 25.0], [np.inf, 0.05, 3.25]])
    raw = np.nan_to_num(metres * scale, posinf=0).astype(dtype) if dtype == "<u2" else (metres * scale).astype(dtype)
    padded = np.zeros((2, 16), np.uint8)  # step larger than width x itemsize
    padded[:, :raw.itemsize * 3] = raw.view(np.uint8).reshape(2, -1)
    values, problem = decode_depth(padded.tobytes(), encoding, 3, 2, 16)
    assert problem is None
    np.testing.assert_allclose(values, [[1.5, np.nan, np.nan], [np.nan, np.nan, 3.25]])
    big = raw.astype(dtype.replace("<", ">"))
    values, _ = decode_depth(big.tobytes(), encoding, 3, 2, 3 * raw.itemsize, big_endian=True)
    assert values[0, 0] == pytest.approx(1.5)


def test_decode_depth_refuses_garbage_without_raising() -> None:
    data = np.zeros(12, np.uint8).tobytes()
    assert decode_depth(data, "rgb8", 3, 2, 6)[1].startswith("encoding")
    assert "bytes" in decode_depth(data, "16UC1", 3, 3, 6)[1]
    assert "step" in decode_depth(data, "16UC1", 3, 2, 4)[1]
    assert decode_depth(b"", "32FC1", 0, 0, 0)[1] is not None


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="depth_prior_gate"):
        DepthOptions(depth_prior_gate=0.0)
    with pytest.raises(ValueError, match="depth_patch_radius"):
        DepthOptions(depth_patch_radius=50)


def test_fit_conditioning_grows_as_a_pole_hides_the_joints_that_pin_the_distance() -> None:
    """1 with every joint; more when the lower body is hidden, more still with only the head and shoulders; the
    same at any distance (only the joints' lever arm counts); 1 where nothing was solved."""
    joints = [person(d) for d in (2.5, 5.0)]
    lifted = np.stack([j - j[0] for j in joints])  # (2, 17, 3) the true pose: the fit is exact
    pixels = np.stack([pixels_of(j) for j in joints])
    upper = np.isin(np.arange(17), [0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])  # no legs
    head = np.isin(np.arange(17), [8, 9, 10, 11, 14])  # thorax, neck, head, shoulders
    ratios = []
    for seen in (np.ones(17, bool), upper, head):
        placed = place(lifted, pixels, np.broadcast_to(seen, (2, 17)).astype(float), K)
        assert placed.method.tolist() == [REPROJECTION] * 2
        ratios.append(placed.quality.conditioning)
    np.testing.assert_allclose(ratios[0], 1.0, atol=1e-6)
    assert (ratios[1] > 1.5).all() and (ratios[2] > 2 * ratios[1]).all()
    np.testing.assert_allclose(ratios[1][0], ratios[1][1], rtol=0.1)
    unsolved = place(lifted[:1], pixels[:1], np.zeros((1, 17)), K)
    assert unsolved.method.tolist() == [NOT_PLACED] and unsolved.quality.conditioning.tolist() == [1.0]


def test_pose_lateral_sigma_grows_as_a_pole_leaves_joints_far_from_the_root() -> None:
    """Round 8: how far across the ray a fit can put the root is the lifted pose's error at the joints it used
    (depth.reliability: 3 cm + half the distance to the root): a few cm from the whole body, ~4x that from the
    head and shoulders over a pole, at any distance; 3 cm from the root alone; 0 from none. place() gives it for
    2D and depth fits alike."""
    joints = [person(d) for d in (2.5, 5.0)]
    lifted = np.stack([j - j[0] for j in joints])  # (2, 17, 3)
    head = np.isin(np.arange(17), [8, 9, 10, 11, 14])  # thorax, neck, head, shoulders
    whole, upper = pose_lateral_sigma(lifted, np.ones((2, 17), bool)), pose_lateral_sigma(lifted, np.stack([head] * 2))
    assert (whole < 0.03).all() and (upper > 4 * whole).all() and (upper > 0.1).all()
    np.testing.assert_allclose(whole[0], whole[1], rtol=1e-9)  # the same person, only farther
    root_only = np.zeros((1, 17), bool)
    root_only[0, 0] = True
    np.testing.assert_allclose(pose_lateral_sigma(lifted[:1], root_only), [0.03])
    assert pose_lateral_sigma(lifted[:1], np.zeros((1, 17), bool)).tolist() == [0.0]
    pixels = np.stack([pixels_of(j) for j in joints])
    two_d = place(lifted, pixels, np.stack([head] * 2).astype(float), K)
    np.testing.assert_allclose(two_d.quality.lateral, upper)
    depth = place(lifted[:1], pixels[:1], np.ones((1, 17)), K, [render(joints[0])])
    assert depth.method.tolist() == [DEPTH]
    np.testing.assert_allclose(depth.quality.lateral, whole[:1])


def test_fit_qualities_nominal_and_rows() -> None:
    """nominal: FitQuality's defaults for every fit (RootFilter.update given no qualities); [b]: one fit's
    FitQuality in Python numbers; [start:end]: those fits' record."""
    assert [FitQualities.nominal(2)[b] for b in range(2)] == [FitQuality(), FitQuality()] == [(1.0, 1, 0.0)] * 2
    quality = FitQualities(np.array([1.0, 2.5, 4.0]), np.array([0, 9, 0]), np.array([0.0, 0.1, 0.2]))
    rows = quality[1:3]
    assert rows.samples.tolist() == [9, 0] and rows[0] == FitQuality(2.5, 9, 0.1) and type(rows[0].samples) is int
