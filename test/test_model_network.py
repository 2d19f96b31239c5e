"""MPM networks: shapes for every window, causal no-leakage, masking semantics, weight transfer, bad inputs."""
import pytest
import torch

from mpm_model.config import ModelConfig
from mpm_model.masking import PretrainObjective
from mpm_model.model import MPMLifter, MPMPretrainModel

torch.set_num_threads(1)
TINY = dict(d_model=32, depth=2, heads=4, ffn_dim=64, encoder_hidden=64, decoder_depth=1)


def tiny(**overrides) -> ModelConfig:
    return ModelConfig(**{**TINY, **overrides})


def inputs(cfg: ModelConfig, batch: int = 2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    kp = torch.randn(batch, cfg.window, cfg.num_joints, 2, generator=gen)
    mask = torch.rand(batch, cfg.window, cfg.num_joints, generator=gen) < 0.2
    pose3d = torch.randn(batch, cfg.window, cfg.num_joints, 3, generator=gen)
    return kp, mask, pose3d


@pytest.mark.parametrize("window", [27, 81, 243])
@pytest.mark.parametrize("causal,lookahead", [(False, 0), (True, 0), (True, 1)])
def test_shapes_every_window(window, causal, lookahead):
    cfg = tiny(window=window, causal=causal, lookahead=lookahead)
    kp, mask, pose3d = inputs(cfg)
    lifter = MPMLifter(cfg).eval()
    seq3d, target3d = lifter(kp, mask)
    assert seq3d.shape == (2, window, 17, 3) and target3d.shape == (2, 1, 17, 3)
    assert bool((seq3d[..., 0, :] == 0).all()) and bool((target3d[..., 0, :] == 0).all())  # root-relative
    goal = PretrainObjective(spatial_mask_joints=4, loss_weight_2d=3.0, loss_weight_3d=0.5)
    out = MPMPretrainModel(cfg, objective=goal)(kp, pose3d)
    assert out.pred2d.shape == (2, window, 17, 2) and out.pred3d.shape == (2, window, 17, 3)
    assert out.frame_mask2d.shape == (2, window) and out.joint_mask3d.shape == (2, window, 17)
    assert int(out.frame_mask2d[0].sum()) == goal.masked_frames(window)
    assert bool((out.joint_mask2d.sum(-1) == 4).all())
    expected = goal.loss_weight_2d * out.loss2d + goal.loss_weight_3d * out.loss3d
    assert torch.allclose(out.loss, expected)


@pytest.mark.parametrize("lookahead", [0, 2])
def test_causal_lifter_no_leakage(lookahead):
    torch.manual_seed(0)
    cfg = tiny(window=27, causal=True, lookahead=lookahead, depth=3)
    lifter = MPMLifter(cfg).eval()
    kp, mask, _ = inputs(cfg)
    seq_a, target_a = lifter(kp, mask)
    for t in (0, 5, 20):
        perturbed = kp.clone()
        perturbed[:, t + lookahead + 1] += 3.0
        seq_b, _ = lifter(perturbed, mask)
        assert torch.allclose(seq_a[:, :t + 1], seq_b[:, :t + 1], atol=1e-5)
        assert not torch.allclose(seq_a[:, t + lookahead + 1:], seq_b[:, t + lookahead + 1:], atol=1e-5)
    # the strided head reads the whole window: its target frame is the last one minus the lookahead
    assert cfg.target_index == 26 - lookahead
    perturbed = kp.clone()
    perturbed[:, -1] += 3.0
    assert not torch.allclose(target_a, lifter(perturbed, mask)[1], atol=1e-5)


def test_centred_lifter_sees_the_future():
    cfg = tiny()
    lifter = MPMLifter(cfg).eval()
    kp, mask, _ = inputs(cfg)
    perturbed = kp.clone()
    perturbed[:, -1] += 3.0
    assert not torch.allclose(lifter(kp, mask)[0][:, :1], lifter(perturbed, mask)[0][:, :1], atol=1e-5)


def test_causal_pretrain_and_complete_no_leakage():
    torch.manual_seed(0)
    cfg = tiny(causal=True, lookahead=1)
    model = MPMPretrainModel(cfg).eval()
    _, mask, pose3d = inputs(cfg)
    a = model.complete(pose3d, mask)
    perturbed = pose3d.clone()
    perturbed[:, 12] += 1.0
    b = model.complete(perturbed, mask)
    assert torch.allclose(a[:, :11], b[:, :11], atol=1e-5)
    # masked pretraining with dropped frames obeys the same rule
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out_a = model(None, pose3d, generator=gen_a)
    out_b = model(None, perturbed, generator=gen_b)
    assert torch.allclose(out_a.pred3d[:, :11], out_b.pred3d[:, :11], atol=1e-5)


def test_masked_joints_are_ignored():
    cfg = tiny()
    lifter = MPMLifter(cfg).eval()
    kp, mask, _ = inputs(cfg)
    garbage = torch.where(mask.unsqueeze(-1), torch.full_like(kp, 123.0), kp)
    assert torch.allclose(lifter(kp, mask)[1], lifter(garbage, mask)[1], atol=1e-6)
    assert torch.allclose(lifter.lift_occluded(kp, mask)[1], lifter(kp, mask)[1])
    assert not torch.allclose(lifter.lift(kp)[1], lifter(kp, mask)[1])
    nan_masked = torch.where(mask.unsqueeze(-1), torch.full_like(kp, float("nan")), kp)
    assert torch.isfinite(lifter(nan_masked, mask)[1]).all()


def test_bad_inputs_raise_value_error():
    cfg = tiny()
    lifter = MPMLifter(cfg).eval()
    kp, mask, pose3d = inputs(cfg)
    with pytest.raises(ValueError, match="shape"):
        lifter(kp[:, :26], mask[:, :26])
    with pytest.raises(ValueError, match="shape"):
        lifter(kp[..., :1], mask)
    with pytest.raises(ValueError, match="mask"):
        lifter(kp, mask.float())
    bad = kp.clone()
    bad[0, 3, ~mask[0, 3]] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        lifter(bad, mask)
    model = MPMPretrainModel(cfg)
    with pytest.raises(ValueError):
        model(None, None)
    with pytest.raises(ValueError, match="pose3d"):
        model(None, pose3d[..., :2])
    with pytest.raises(ValueError, match="non-finite"):
        model.complete(torch.full_like(pose3d, float("inf")), torch.zeros_like(mask))


def test_pretrained_encoder_transfer():
    cfg = tiny()
    pretrain, lifter = MPMPretrainModel(cfg), MPMLifter(cfg)
    report = lifter.load_pretrained_encoder(pretrain.state_dict())
    assert not report["shape_mismatch"] and not report["not_in_checkpoint"]
    own = lifter.state_dict()
    encoder_keys = [k for k in own if k.startswith("encoder.")]
    assert sorted(report["copied"]) == sorted(encoder_keys)
    for key in encoder_keys:
        assert torch.equal(own[key], pretrain.state_dict()[key])
    assert "encoder.joint_token2d" in report["copied"] and "encoder.transformer.norm.weight" in report["copied"]
    other = MPMPretrainModel(tiny(window=81)).state_dict()
    report = MPMLifter(cfg).load_pretrained_encoder(other)
    assert report["shape_mismatch"] == ["encoder.pos_embed"]
    with pytest.raises(ValueError, match="no encoder weights"):
        lifter.load_pretrained_encoder({"foo": torch.zeros(1)})


def test_onnx_dynamo_export_dynamic_batch(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    cfg = tiny(causal=True, lookahead=1, depth=1)
    lifter = MPMLifter(cfg).eval()

    class TargetOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, keypoints2d, mask):
            return self.inner(keypoints2d, mask)[1]

    kp, mask, _ = inputs(cfg)
    batch = torch.export.Dim("batch", min=1, max=64)
    path = tmp_path / "lifter.onnx"
    torch.onnx.export(TargetOnly(lifter).eval(), (kp, mask), str(path), dynamo=True, input_names=["keypoints2d", "mask"],
                      output_names=["pose3d"], dynamic_shapes={"keypoints2d": {0: batch}, "mask": {0: batch}})
    kp3, mask3, _ = inputs(cfg, batch=3, seed=5)
    out = onnxruntime.InferenceSession(str(path)).run(None, {"keypoints2d": kp3.numpy(), "mask": mask3.numpy()})[0]
    assert out.shape == (3, 1, 17, 3)
    assert abs(out - lifter(kp3, mask3)[1].detach().numpy()).max() < 1e-4
