"""Window datasets: shapes, dtypes, edge padding, consistency of 2D with 3D, masks, determinism, per-window
cameras on long walks (never a point behind a camera), robot cameras, COCO-mapped 2D, rate augmentation."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mpm_model.data.camera import normalize_screen, project, world_to_camera
from mpm_model.data.mocap import MocapSequence, load_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.data.windows import (LiftingWindows, Pose2DWindows, Pose3DWindows, ViewOptions, interpolate_frames,
                                    split_unpaired, training_view)

TRAIN_FILE = Path(__file__).resolve().parents[2] / "shared/data/mocap_h36m17_train.npz"


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(2, 60, seed=4)


def long_walk(metres: float = 15.0, frames: int = 300) -> MocapSequence:
    """A pose sliding `metres` along x: it passes any camera placed near its start."""
    pose = synthetic_sequences(1, 1, seed=1)[0].poses3d[0]
    shift = np.linspace(0.0, metres, frames)[:, None, None] * np.array([1.0, 0.0, 0.0])
    return MocapSequence("walk", "w", 30.0, (pose[None] + shift).astype(np.float32), "synthetic")


def test_interpolate_frames():
    poses = np.arange(4 * 17 * 3, dtype=np.float32).reshape(4, 17, 3)
    out = interpolate_frames(poses, np.array([-1.0, 0.5, 3.0, 7.0]))
    np.testing.assert_allclose(out[0], poses[0])
    np.testing.assert_allclose(out[1], (poses[0] + poses[1]) / 2)
    np.testing.assert_allclose(out[2], poses[3]) and np.testing.assert_allclose(out[3], poses[3])


def test_lifting_windows_shapes_and_every_frame_a_target(seqs):
    ds = LiftingWindows(seqs, window=9, stride=1, cameras_per_seq=2, seed=0, augment=False)
    assert len(ds) == 2 * 2 * 60
    item = ds[0]
    assert item["keypoints2d"].shape == (9, 17, 2) and item["keypoints2d"].dtype == torch.float32
    assert item["mask"].shape == (9, 17) and item["mask"].dtype == torch.bool
    assert item["pose3d"].shape == (9, 17, 3) and item["pose3d"].dtype == torch.float32
    assert torch.all(item["pose3d"][:, 0] == 0)  # root-relative
    # frame 0 is the target of item 0: the 4 frames before it replicate frame 0
    assert torch.equal(item["pose3d"][0], item["pose3d"][4]) and torch.equal(item["keypoints2d"][0], item["keypoints2d"][4])
    world = seqs[0].poses3d[0] - seqs[0].poses3d[0, 0]
    np.testing.assert_allclose(np.linalg.norm(item["pose3d"][4].numpy(), axis=-1), np.linalg.norm(world, axis=-1), atol=1e-5)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["keypoints2d"].shape == (4, 9, 17, 2)
    assert len(LiftingWindows(seqs, window=9, stride=4, cameras_per_seq=1)) == 2 * 15


def test_2d_is_projection_of_3d(seqs):
    ds = LiftingWindows(seqs, window=5, cameras_per_seq=2, augment=False)
    index = 60 + 30  # sequence 0, camera 1, target frame 30 (items run sequence → camera → anchor)
    item, cam = ds[index], ds.camera(index)
    world = seqs[0].poses3d[28:33]
    cam_poses = world_to_camera(world, cam)
    np.testing.assert_allclose(item["pose3d"].numpy(), cam_poses - cam_poses[:, :1], atol=1e-5)
    expected = normalize_screen(project(cam_poses, cam), cam.width, cam.height)
    np.testing.assert_allclose(item["keypoints2d"].numpy(), expected, atol=1e-5)
    assert not item["mask"].any() and np.abs(expected).max() < 1.0  # fully inside the image


def test_masks_and_occlusion(seqs):
    ds = LiftingWindows(seqs, window=27, stride=6, cameras_per_seq=1, seed=1, view=ViewOptions(occlusion=0.3))
    fractions = []
    for i in range(len(ds)):
        item = ds[i]
        assert torch.all(item["keypoints2d"][item["mask"]] == 0)
        fractions.append(item["mask"].float().mean().item())
    assert abs(np.mean(fractions) - 0.3) < 0.03


def test_determinism_and_epochs(seqs):
    a = LiftingWindows(seqs, window=9, seed=3, view=training_view())
    b = LiftingWindows(seqs, window=9, seed=3, view=training_view())
    assert torch.equal(a[17]["keypoints2d"], b[17]["keypoints2d"])
    b.set_epoch(1)
    assert not torch.equal(a[17]["pose3d"], b[17]["pose3d"])  # new augmentation draw
    c = LiftingWindows(seqs, window=9, seed=4, augment=False)
    d = LiftingWindows(seqs, window=9, seed=3, augment=False)
    assert not torch.equal(c[17]["keypoints2d"], d[17]["keypoints2d"])  # cameras follow the seed
    d.set_epoch(5)
    assert torch.equal(d[17]["keypoints2d"], LiftingWindows(seqs, window=9, seed=3, augment=False)[17]["keypoints2d"])


@pytest.mark.parametrize("window,target_index", [(27, 26), (243, 121)])
def test_long_walk_never_behind_the_camera(window, target_index):
    """The epoch-2 crash: a 15 m walk past cameras placed near the person; every window must project."""
    walk = [long_walk()]
    for view in (training_view(), ViewOptions(robot_share=1.0), ViewOptions(robot_share=1.0, run=8)):
        ds = LiftingWindows(walk, window=window, stride=5 if window < 100 else 30, target_index=target_index,
                            augment=True, view=view)
        for epoch in range(2):
            ds.set_epoch(epoch)
            for i in range(len(ds)):
                item = ds[i]
                assert torch.isfinite(item["keypoints2d"]).all() and torch.isfinite(item["pose3d"]).all()
                if view.detector is None:  # occlusion may drop whole frames; cameras alone never hide the target
                    assert not item["mask"][target_index].all()


@pytest.mark.skipif(not TRAIN_FILE.is_file(), reason="shared training file not present")
def test_real_file_longest_walks():
    sequences = load_mocap(TRAIN_FILE)
    longest = sorted(sequences, key=lambda s: -np.ptp(s.poses3d[:, 0, :2], axis=0).max())[:4]
    assert np.ptp(longest[0].poses3d[:, 0, :2], axis=0).max() > 10.0  # they do walk 10 m
    ds = LiftingWindows(longest, window=81, stride=9, target_index=77, view=training_view())
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            assert torch.isfinite(ds[i]["keypoints2d"]).all()


def test_robot_cameras_cut_people_off_and_coco_changes_synthesised_joints(seqs):
    robot = LiftingWindows(seqs, window=9, stride=3, augment=False, view=ViewOptions(robot_share=1.0))
    sizes = {(robot.camera(i).width, robot.camera(i).height) for i in range(len(robot))}
    assert len(sizes) > 1 and sizes <= {(640, 480), (848, 480), (1280, 720), (1920, 1080)}
    assert any(robot[i]["mask"].any() for i in range(len(robot)))  # some joints out of frame
    plain = LiftingWindows(seqs, window=9, stride=3, augment=False)
    coco = LiftingWindows(seqs, window=9, stride=3, augment=False, view=ViewOptions(coco_share=1.0))
    a, b = plain[5]["keypoints2d"], coco[5]["keypoints2d"]
    shared = [1, 2, 3, 4, 5, 6, 9, 11, 12, 13, 14, 15, 16]  # H36M joints COCO has (pelvis = mid-hips too)
    assert torch.allclose(a[:, shared], b[:, shared], atol=1e-5)
    assert (a[:, [7, 8, 10]] - b[:, [7, 8, 10]]).abs().max() > 1e-3  # spine, thorax, head synthesised


def test_rate_augmentation_and_present_fps(seqs):
    slow = LiftingWindows(seqs, window=9, stride=10, augment=False, view=ViewOptions(present_fps=15.0))
    normal = LiftingWindows(seqs, window=9, stride=10, augment=False)
    speed_slow = (slow[2]["pose3d"][1:] - slow[2]["pose3d"][:-1]).norm(dim=-1).mean()
    speed_normal = (normal[2]["pose3d"][1:] - normal[2]["pose3d"][:-1]).norm(dim=-1).mean()
    assert speed_slow > 1.5 * speed_normal  # a 15 Hz camera sees twice the motion per frame
    aug = LiftingWindows(seqs, window=9, stride=10, view=ViewOptions(rate_range=(20.0, 60.0)))
    steps = {round(aug._step(aug._rngs(i)[1]), 3) for i in range(len(aug))}
    assert len(steps) > 3 and min(steps) >= 0.5 - 1e-9 and max(steps) <= 1.5 + 1e-9


def test_bad_input(seqs):
    slow = [MocapSequence("slow", "s", 25.0, seqs[0].poses3d[:30])]
    assert len(LiftingWindows(slow, window=3, cameras_per_seq=1)) == 35  # 30 frames at 25 Hz → 35 at 30 Hz
    with pytest.raises(ValueError):
        LiftingWindows(seqs, window=0)
    with pytest.raises(ValueError):
        LiftingWindows([], window=9)
    with pytest.raises(IndexError):
        LiftingWindows(seqs, window=3)[10_000]
    for bad in (dict(robot_share=1.5), dict(rate_range=(0.0, 10.0)), dict(present_fps=-1.0), dict(run=0)):
        with pytest.raises(ValueError):
            ViewOptions(**bad)


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
