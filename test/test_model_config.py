"""ModelConfig: architecture only, derived fields, strict dict round-trip; the pretraining objective's exact mask
ratio; skeleton tables; mask draws."""
import numpy as np
import pytest
import torch

from mpm_model.config import ModelConfig
from mpm_model.masking import (PretrainObjective, random_frame_drop, random_joint_mask, random_occlusion_mask,
                                tube_mask)
from mpm_model.skeleton import COCO_JOINTS, H36M_FLIP_PERMUTATION, H36M_PARENTS, coco17_to_h36m17


ARCHITECTURE = {"num_joints", "window", "encoder_hidden", "d_model", "ffn_dim", "heads", "depth", "decoder_depth",
                "causal", "lookahead", "fps", "arch", "stride_schedule"}


def test_defaults_and_masked_ratio_exact():
    cfg = ModelConfig()
    assert (cfg.num_joints, cfg.window, cfg.d_model, cfg.heads, cfg.depth) == (17, 27, 256, 8, 4)
    goal = PretrainObjective()
    assert goal.masked_ratio(cfg.num_joints) == 1 - (1 - 0.6) * (17 - 5) / 17
    assert round(goal.masked_ratio(cfg.num_joints) * 100, 1) == 71.8
    assert (goal.masked_frames(cfg.window), goal.kept_frames(cfg.window)) == (16, 11)


def test_config_is_architecture_only():
    """Training settings (dropout, masks, loss weights) never reach a sidecar or an ONNX cache key."""
    assert set(ModelConfig().to_dict()) == ARCHITECTURE
    with pytest.raises(ValueError, match=r"unknown \['dropout'\]"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "dropout": 0.1})


@pytest.mark.parametrize("window,schedule", [(27, (3, 3, 3)), (81, (3, 3, 3, 3)), (243, (3, 3, 3, 3, 3))])
def test_stride_schedule_derived(window, schedule):
    assert ModelConfig(window=window).stride_schedule == schedule


def test_target_index_centred_and_causal():
    assert ModelConfig(window=81).target_index == 40
    assert ModelConfig(window=27, causal=True).target_index == 26
    assert ModelConfig(window=27, causal=True, lookahead=3).target_index == 23


def test_explicit_schedule_and_invalid_configs():
    assert ModelConfig(window=8, stride_schedule=(2, 4)).stride_schedule == (2, 4)
    with pytest.raises(ValueError, match="power of 3"):
        ModelConfig(window=30)
    with pytest.raises(ValueError, match="multiply to window"):
        ModelConfig(window=27, stride_schedule=(3, 3))
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, heads=8)
    with pytest.raises(ValueError, match="causal"):
        ModelConfig(lookahead=2)
    with pytest.raises(ValueError, match="lookahead"):
        ModelConfig(causal=True, lookahead=27)
    with pytest.raises(ValueError, match="spatial_mask_joints"):
        PretrainObjective(spatial_mask_joints=17).check(17, 27)
    with pytest.raises(ValueError, match="spatial_mask_joints"):
        PretrainObjective(spatial_mask_joints=-1)
    with pytest.raises(ValueError, match="temporal_mask_ratio"):
        PretrainObjective(temporal_mask_ratio=1.0)
    with pytest.raises(ValueError, match="keep at least one"):
        PretrainObjective(temporal_mask_ratio=0.9).check(17, 3)
    with pytest.raises(ValueError, match="loss weights"):
        PretrainObjective(loss_weight_3d=-1.0)


def test_dict_round_trip_and_strict_keys():
    cfg = ModelConfig(window=81, causal=True, lookahead=2, d_model=64, heads=4)
    data = cfg.to_dict()
    assert ModelConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match=r"unknown \['bogus'\]"):
        ModelConfig.from_dict({**data, "bogus": 1})
    del data["heads"]
    with pytest.raises(ValueError, match=r"missing \['heads'\]"):
        ModelConfig.from_dict(data)
    assert cfg.replace(window=243).stride_schedule == (3,) * 5
    assert set(cfg.diff(ModelConfig())) == {"window", "causal", "lookahead", "d_model", "heads", "stride_schedule"}


def test_joint_and_frame_mask_counts_exact():
    gen = torch.Generator().manual_seed(0)
    joint = random_joint_mask(64, 27, 17, 5, gen)
    assert joint.shape == (64, 27, 17) and bool((joint.sum(-1) == 5).all())
    keep, frame_mask = random_frame_drop(64, 27, 16, gen)
    assert keep.shape == (64, 11) and bool((frame_mask.sum(-1) == 16).all())
    assert bool((keep[:, 1:] > keep[:, :-1]).all())  # sorted, unique
    assert not bool(frame_mask.gather(1, keep).any())
    cfg, goal = ModelConfig(), PretrainObjective()
    visible = (~joint) & (~frame_mask).unsqueeze(-1)
    realised = 1 - visible.float().mean().item()
    expected = 1 - goal.kept_frames(cfg.window) / cfg.window * (17 - 5) / 17
    assert realised == pytest.approx(expected, abs=1e-6)
    # different draws differ (not a constant pattern)
    assert not torch.equal(joint[0], joint[1])


def test_tube_and_occlusion_masks():
    gen = torch.Generator().manual_seed(1)
    tube = tube_mask(32, 27, 17, 3, 9, gen)
    frames_hit = tube.any(-1)  # (B, T)
    assert bool((frames_hit.sum(-1) == 9).all())
    assert bool((tube.any(1).sum(-1) == 3).all())
    first = frames_hit.float().argmax(-1)
    for b in range(32):  # contiguous span, same joints in every masked frame
        span = frames_hit[b, first[b]:first[b] + 9]
        assert bool(span.all())
        assert torch.equal(tube[b, first[b]], tube[b, first[b] + 8])
    occ = random_occlusion_mask(4, 27, 17, 0.3, gen)
    assert bool((occ.sum(-1) == 5).all())
    with pytest.raises(ValueError):
        random_occlusion_mask(1, 27, 17, 1.5)
    with pytest.raises(ValueError):
        tube_mask(1, 27, 17, 3, 28)


def test_skeleton_tables():
    assert len(H36M_PARENTS) == 17 and H36M_PARENTS[0] == -1
    perm = np.array(H36M_FLIP_PERMUTATION)
    assert (perm[perm] == np.arange(17)).all() and perm[1] == 4 and perm[16] == 13
    kp = np.random.default_rng(0).normal(size=(5, 17, 2))
    conf = np.ones((5, 17))
    conf[:, COCO_JOINTS.index("left_hip")] = 0.1
    out, out_conf = coco17_to_h36m17(kp, conf)
    assert out.shape == (5, 17, 2)
    assert np.allclose(out[:, 0], (kp[:, 11] + kp[:, 12]) / 2, atol=1e-6)
    assert np.allclose(out_conf[:, 0], 0.1) and np.allclose(out_conf[:, 1], 1.0)
    with pytest.raises(ValueError):
        coco17_to_h36m17(kp[:, :16], conf[:, :16])
