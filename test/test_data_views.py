"""The batched view pipeline (mpm_model.data.views) against the per-window datasets (mpm_model.data.windows):
same distributions on the same mocap (statistics of 2D, depth, 3D, masks), deterministic per seed, and a
deliberately wrong setting is caught by the same comparison."""
import dataclasses

import numpy as np
import pytest
import torch

from mpm_model.data.draws import TorchDraws, generator
from mpm_model.data.mocap import MocapSequence
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.data.views import BatchedViews, MotionBank
from mpm_model.data.windows import LiftingWindows, ViewOptions, training_view

WINDOW, TARGET, N = 27, 26, 1024


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(6, 240, seed=1)


def _stats(keypoints: np.ndarray, mask: np.ndarray, pose3d: np.ndarray, depth: np.ndarray) -> dict[str, np.ndarray]:
    """keypoints (N, T, J, 2), mask (N, T, J), pose3d (N, T, J, 3), depth (N,) root depth of the target frame."""
    visible = keypoints[~mask]  # (M, 2)
    q = (0.1, 0.5, 0.9)
    return {"xy_quantiles": np.quantile(visible, q, axis=0).ravel(), "xy_spread": visible.std(axis=0),
            "mask_rate": np.array([mask.mean()]), "mask_per_joint": mask.mean(axis=(0, 1)),
            "mask_target_frame": np.array([mask[:, TARGET].mean()]),
            "depth_quantiles": np.quantile(depth, q), "pose3d_spread": pose3d.reshape(-1, 3).std(axis=0)}


def per_window_stats(seqs, view: ViewOptions) -> dict[str, np.ndarray]:
    ds = LiftingWindows(seqs, window=WINDOW, target_index=TARGET, view=view)
    picks = np.random.default_rng(0).choice(len(ds), size=N, replace=False)
    items = [ds[int(i)] for i in picks]
    depth = np.array([ds._camera_poses(int(i))[0][TARGET, 0, 2] for i in picks])
    return _stats(*(np.stack([it[k].numpy() for it in items]) for k in ("keypoints2d", "mask", "pose3d")), depth)


def batched_stats(seqs, view: ViewOptions, seed: int = 0) -> dict[str, np.ndarray]:
    views = BatchedViews(MotionBank.build(seqs, 30.0, "cpu", source_balance=1.0), WINDOW, TARGET, view, 30.0)
    batch = views(TorchDraws(generator("cpu", seed), N))
    cam_poses, _ = views.camera_poses(TorchDraws(generator("cpu", seed + 1), N))
    return _stats(batch["keypoints2d"].numpy(), batch["mask"].numpy(), batch["pose3d"].numpy(),
                  cam_poses[:, TARGET, 0, 2].numpy())


# Allowed |difference| per statistic: sampling noise of N = 1024 windows (about 3-4 standard errors).
TOLERANCE = {"xy_quantiles": 0.04, "xy_spread": 0.015, "mask_rate": 0.02, "mask_per_joint": 0.04,
             "mask_target_frame": 0.02, "depth_quantiles": 0.35, "pose3d_spread": 0.01}


def mismatches(a: dict, b: dict) -> dict[str, float]:
    worst = {k: float(np.abs(a[k] - b[k]).max()) for k in a}
    return {k: v for k, v in worst.items() if v > TOLERANCE[k]}


@pytest.fixture(scope="module")
def reference(seqs):
    return per_window_stats(seqs, training_view())


def test_batched_matches_per_window_distributions(seqs, reference):
    assert mismatches(reference, batched_stats(seqs, training_view())) == {}


@pytest.mark.parametrize("wrong", [dict(robot_share=0.2), dict(lasting_share=0.0), dict(occlusion_max=0.1)])
def test_the_comparison_catches_a_wrong_setting(seqs, reference, wrong):
    assert mismatches(reference, batched_stats(seqs, dataclasses.replace(training_view(), **wrong))) != {}


def test_clean_views_and_lasting_conditions(seqs):
    clean = ViewOptions(robot_share=0.5)
    assert mismatches(per_window_stats(seqs, clean), batched_stats(seqs, clean)) == {}
    views = BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, TARGET, ViewOptions(lasting="wrists"), 30.0,
                         augment=False)
    mask = views(TorchDraws(generator("cpu", 3), 64))["mask"]
    assert mask[..., [13, 16]].all()  # both wrists hidden in every frame of every window
    border = BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, TARGET, ViewOptions(lasting="border"), 30.0,
                          augment=False)(TorchDraws(generator("cpu", 3), 64))["mask"]
    assert border[..., [3, 6]].float().mean() > 0.9 > border[..., [9, 10]].float().mean()  # feet cut, head kept


def test_the_3d_target_is_the_anchor_frame_and_the_2d_its_projection(seqs):
    """No frame shift between a window's 2D and its 3D, nor between its target frame and the drawn anchor (issue 26:
    the causal model's one-frame lag is not in the data)."""
    bank = MotionBank.build(seqs, 30.0, "cpu")
    views = BatchedViews(bank, WINDOW, TARGET, ViewOptions(), 30.0, augment=False)
    seq, anchor = bank.draw_anchors(TorchDraws(generator("cpu", 5), 64))  # the first draws of every call below
    batch = views(TorchDraws(generator("cpu", 5), 64))
    cam_poses, cams = views.camera_poses(TorchDraws(generator("cpu", 5), 64))  # (B, T, J, 3)
    for shift in (0, 1, 2):  # frame TARGET - shift of the window is mocap frame anchor - shift (clamped at 0)
        world = bank.poses[bank.start[seq] + (anchor - shift).clamp(min=0)]  # (B, J, 3)
        lengths = (world - world[:, :1]).norm(dim=-1)  # root distances are camera-independent
        torch.testing.assert_close(batch["pose3d"][:, TARGET - shift].norm(dim=-1), lengths, atol=1e-5, rtol=0)
    size = cams.size[:, None, None]  # (B, 1, 1, 2)
    uv = cams.project(cam_poses)
    expected = (uv / size[..., :1] * 2.0 - torch.cat([torch.ones_like(size[..., :1]), size[..., 1:] / size[..., :1]],
                                                      dim=-1)).masked_fill(batch["mask"][..., None], 0.0)
    torch.testing.assert_close(batch["keypoints2d"], expected.float())


def test_deterministic_per_seed_and_shapes(seqs):
    views = BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, TARGET, training_view(), 30.0)
    a, b = (views(TorchDraws(generator("cpu", 7, 1), 16)) for _ in range(2))
    c = views(TorchDraws(generator("cpu", 7, 2), 16))
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["keypoints2d"], c["keypoints2d"])
    assert a["keypoints2d"].shape == (16, WINDOW, 17, 2) and a["mask"].dtype == torch.bool
    assert a["pose3d"].shape == (16, WINDOW, 17, 3) and torch.all(a["pose3d"][:, :, 0] == 0)
    assert torch.all(a["keypoints2d"][a["mask"]] == 0) and torch.isfinite(a["keypoints2d"]).all()


def test_bad_input(seqs):
    with pytest.raises(ValueError):
        MotionBank.build([], 30.0, "cpu")
    with pytest.raises(ValueError):
        MotionBank.build(seqs, 30.0, "cpu", source_balance=1.5)
    with pytest.raises(ValueError):
        BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, WINDOW, training_view(), 30.0)
    with pytest.raises(ValueError):
        ViewOptions(lasting="teeth")


# What stays with the per-window datasets (docs/TRAINING.md, "Windows: one set of formulas, two samplers"): one test
# per difference, each failing if the batched views took that job over unchanged or the datasets lost it.
def test_difference_1_evaluation_windows_are_fixed_per_item_batched_views_per_batch(seqs):
    """A per-window item is the same read alone, after other items, or in batches of another size (an evaluation
    number cannot move with --batch-size); a batched view depends on the batch it is drawn in."""
    view = ViewOptions(robot_share=0.5)
    ds = LiftingWindows(seqs, window=WINDOW, target_index=TARGET, stride=8, cameras_per_seq=1, augment=False,
                        view=view)
    alone = ds[5]
    for size in (4, 7):
        batch = next(b for i, b in enumerate(torch.utils.data.DataLoader(ds, batch_size=size)) if i == 5 // size)
        assert all(torch.equal(batch[k][5 % size], alone[k]) for k in alone)
    views = BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, TARGET, view, 30.0, augment=False)
    small, large = (views(TorchDraws(generator("cpu", 0), n)) for n in (8, 16))
    assert not torch.equal(small["keypoints2d"][0], large["keypoints2d"][0])


def test_difference_2_every_anchor_once_per_window_anchors_drawn_with_replacement(seqs):
    """Per-window datasets hold every `stride`-th anchor of every sequence once per camera (evaluation's coverage, the
    CLIs' epochs); the batched views draw anchors with replacement at the source shares (training)."""
    ds = LiftingWindows(seqs, window=WINDOW, target_index=TARGET, stride=8, cameras_per_seq=1, augment=False)
    for s, seq in enumerate(ds.sequences):
        anchors = ds.items[ds.items[:, 0] == s, 2]
        assert anchors.tolist() == list(range(0, len(seq), 8))
    two = [MocapSequence(f"x{i}", f"s{i}", 30.0, seq.poses3d, "small" if i == 0 else "large")
           for i, seq in enumerate(seqs)]  # 1 sequence against 5
    bank = MotionBank.build(two, 30.0, "cpu", source_balance=0.0)
    seq, anchor = bank.draw_anchors(TorchDraws(generator("cpu", 2), 4096))
    frames = int(bank.length.sum())
    assert len(set(zip(seq.tolist(), anchor.tolist()))) < min(4096, frames)  # repeats: with replacement
    assert abs(float((seq == 0).double().mean()) - 0.5) < 0.05  # equal source shares, not 1/6


def test_difference_3_runs_of_targets_sharing_a_camera_only_per_window(seqs):
    """`ViewOptions.run` (consecutive targets under one camera: the velocity error) exists in the per-window
    datasets; the batched views refuse it rather than silently give every window its own camera."""
    ds = LiftingWindows(seqs, window=WINDOW, target_index=TARGET, stride=16, cameras_per_seq=1, augment=False,
                        view=ViewOptions(robot_share=0.5, run=3))
    first = [i for i, (s, _, a, k) in enumerate(ds.items) if s == 0 and a == 16]
    assert [int(ds.items[i, 3]) for i in first] == [0, 1, 2]
    cams = [ds.camera(i) for i in first]
    assert all(np.array_equal(c.rotation, cams[0].rotation) and np.array_equal(c.translation, cams[0].translation)
               for c in cams)
    with pytest.raises(ValueError, match="run must be 1"):
        BatchedViews(MotionBank.build(seqs, 30.0, "cpu"), WINDOW, TARGET, ViewOptions(run=3), 30.0, augment=False)
