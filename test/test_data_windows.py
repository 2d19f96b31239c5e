"""Window datasets: shapes, dtypes, edge padding, consistency of 2D with 3D, masks, determinism."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mpm_model.data.camera import normalize_screen, project, world_to_camera
from mpm_model.data.mocap import MocapSequence
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.data.windows import LiftingWindows, Pose2DWindows, Pose3DWindows, split_unpaired, window_frames


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(2, 60, seed=4)


def test_window_frames_edge_padding():
    np.testing.assert_array_equal(window_frames(10, 0, 5, 2), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(window_frames(10, 9, 5, 2), [7, 8, 9, 9, 9])
    np.testing.assert_array_equal(window_frames(10, 4, 3, 2), [2, 3, 4])  # causal-style target at the end


def test_lifting_windows_shapes_and_every_frame_a_target(seqs):
    ds = LiftingWindows(seqs, window=9, stride=1, cameras_per_seq=2, seed=0, augment=False, noise_px=0.0)
    assert len(ds) == 2 * 2 * 60
    item = ds[0]
    assert item["keypoints2d"].shape == (9, 17, 2) and item["keypoints2d"].dtype == torch.float32
    assert item["mask"].shape == (9, 17) and item["mask"].dtype == torch.bool
    assert item["pose3d"].shape == (9, 17, 3) and item["pose3d"].dtype == torch.float32
    assert torch.all(item["pose3d"][:, 0] == 0)  # root-relative
    # frame 0 is the target of item 0: the 4 frames before it replicate frame 0
    assert torch.equal(item["pose3d"][0], item["pose3d"][4]) and torch.equal(item["keypoints2d"][0], item["keypoints2d"][4])
    # without augmentation the target pose is the mocap pose, rigidly moved: bone lengths kept
    world = seqs[0].poses3d[0] - seqs[0].poses3d[0, 0]
    np.testing.assert_allclose(np.linalg.norm(item["pose3d"][4].numpy(), axis=-1), np.linalg.norm(world, axis=-1), atol=1e-5)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["keypoints2d"].shape == (4, 9, 17, 2)
    assert len(LiftingWindows(seqs, window=9, stride=4, cameras_per_seq=1)) == 2 * 15


def test_2d_is_projection_of_3d(seqs):
    ds = LiftingWindows(seqs, window=5, cameras_per_seq=2, augment=False, noise_px=0.0)
    index = 60 + 30  # sequence 0, camera 1, target frame 30 (items run sequence → camera → frame)
    item, cam = ds[index], ds.camera(index)
    world = seqs[0].poses3d[28:33]
    cam_poses = world_to_camera(world, cam)
    np.testing.assert_allclose(item["pose3d"].numpy(), cam_poses - cam_poses[:, :1], atol=1e-5)
    expected = normalize_screen(project(cam_poses, cam), cam.width, cam.height)
    np.testing.assert_allclose(item["keypoints2d"].numpy(), expected, atol=1e-5)
    assert not item["mask"].any() and np.abs(expected).max() < 1.0  # fully inside the image


def test_masks_and_occlusion(seqs):
    ds = LiftingWindows(seqs, window=27, stride=6, cameras_per_seq=1, occlusion=0.3, seed=1)
    fractions = []
    for i in range(len(ds)):
        item = ds[i]
        assert torch.all(item["keypoints2d"][item["mask"]] == 0)
        fractions.append(item["mask"].float().mean().item())
    assert abs(np.mean(fractions) - 0.3) < 0.03


def test_determinism_and_epochs(seqs):
    a = LiftingWindows(seqs, window=9, seed=3)
    b = LiftingWindows(seqs, window=9, seed=3)
    assert torch.equal(a[17]["keypoints2d"], b[17]["keypoints2d"])
    b.set_epoch(1)
    assert not torch.equal(a[17]["pose3d"], b[17]["pose3d"])  # new augmentation draw
    c = LiftingWindows(seqs, window=9, seed=4, augment=False, noise_px=0.0)
    d = LiftingWindows(seqs, window=9, seed=3, augment=False, noise_px=0.0)
    assert not torch.equal(c[17]["keypoints2d"], d[17]["keypoints2d"])  # cameras follow the seed


def test_resampling_and_bad_input(seqs):
    slow = [MocapSequence("slow", "s", 25.0, seqs[0].poses3d[:30])]
    assert len(LiftingWindows(slow, window=3, cameras_per_seq=1)) == 59  # 30 frames at 25 Hz → 59 at 50 Hz
    with pytest.raises(ValueError):
        LiftingWindows(seqs, window=0)
    with pytest.raises(ValueError):
        LiftingWindows([], window=9)
    with pytest.raises(IndexError):
        LiftingWindows(seqs, window=3)[10_000]


def test_pose2d_pose3d_unpaired(seqs):
    many = synthetic_sequences(4, 20, seed=5)
    half_2d, half_3d = split_unpaired(many, seed=0)
    assert not {s.name for s in half_2d} & {s.name for s in half_3d} and len(half_2d) + len(half_3d) == 4
    ds2 = Pose2DWindows(many, window=9, unpaired=True, cameras_per_seq=1)
    ds3 = Pose3DWindows(many, 9, 1, 0, True, cameras_per_seq=1, unpaired=True)
    assert {s.name for s in ds2.sequences} == {s.name for s in half_2d}
    assert {s.name for s in ds3.sequences} == {s.name for s in half_3d}
    assert set(ds2[0]) == {"keypoints2d", "mask"} and ds2[0]["keypoints2d"].shape == (9, 17, 2)
    item = ds3[0]
    assert set(item) == {"pose3d"} and item["pose3d"].shape == (9, 17, 3) and torch.all(item["pose3d"][:, 0] == 0)
