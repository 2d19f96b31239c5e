"""The graph form of mpm_model.model (float causal masks, folded BatchNorm, matmul FFNs, fusable GELU) computes what
the plain formulation computes: every shipped checkpoint is checked against an independent functional
re-implementation (boolean masked_fill attention, Conv1d + BatchNorm, strided Conv1d) built from its state_dict."""
import math

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from mpm_model.checkpoint import list_pretrained, load_checkpoint, read_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.deploy.export import export_onnx
from mpm_model.layers import attention_bias, causal_allowed
from mpm_model.model import MPMLifter, MPMPretrainModel

torch.set_num_threads(1)
TOLERANCE = 1e-5  # metres; the formulations differ by float rounding only (measured <= 2e-6)
SHIPPED_LIFTERS = ["mpm_t27_causal", "mpm_t27_causal_la1", "mpm_t81_causal_la3"]
TINY = dict(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=2)


# ------------------------------------------------------------------ the plain formulation, from a state_dict

def _bn(x, sd, p):  # eval BatchNorm1d over channel dim 1 of (B, C, T)
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
                        False, 0.0, 1e-5)


def _conv(x, sd, p, stride=1):
    return F.conv1d(x, sd[p + ".weight"], sd[p + ".bias"], stride=stride)


def _attention(x, sd, p, heads, allowed):
    b, n, d = x.shape
    qkv = F.linear(x, sd[p + ".qkv.weight"], sd[p + ".qkv.bias"]).view(b, n, 3, heads, d // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d // heads)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    out = scores.softmax(-1) @ v
    return F.linear(out.transpose(1, 2).reshape(b, n, d), sd[p + ".proj.weight"], sd[p + ".proj.bias"])


def _ln(x, sd, p):
    return F.layer_norm(x, x.shape[-1:], sd[p + ".weight"], sd[p + ".bias"])


def _stack(x, sd, p, depth, heads, first, rest):
    for i in range(depth):
        q = f"{p}.blocks.{i}"
        x = x + _attention(_ln(x, sd, q + ".norm1"), sd, q + ".attn", heads, first if i == 0 else rest)
        h = F.gelu(F.linear(_ln(x, sd, q + ".norm2"), sd[q + ".mlp.0.weight"], sd[q + ".mlp.0.bias"]))
        x = x + F.linear(h, sd[q + ".mlp.3.weight"], sd[q + ".mlp.3.bias"])
    return _ln(x, sd, p + ".norm")


def _encode(sd, cfg, pose, mask):
    kind = "2d" if pose.shape[-1] == 2 else "3d"
    pose = torch.where(mask.unsqueeze(-1), sd[f"encoder.joint_token{kind}"], pose)
    x = pose.flatten(2).transpose(1, 2)  # (B, J*C, T)
    x = F.leaky_relu(_bn(_conv(x, sd, f"encoder.encoder{kind}.net.0"), sd, f"encoder.encoder{kind}.net.1"), 0.2)
    y = x
    for i in (0, 4):
        y = F.leaky_relu(_bn(_conv(y, sd, f"encoder.shared_block.residual.{i}"), sd,
                             f"encoder.shared_block.residual.{i + 1}"), 0.2)
    x = _conv(x + y, sd, "encoder.shared_block.out").transpose(1, 2) + sd["encoder.pos_embed"]
    frames = torch.arange(cfg.window)
    first = causal_allowed(frames, frames, cfg.lookahead) if cfg.causal else None
    rest = causal_allowed(frames, frames, 0) if cfg.causal else None
    return _stack(x, sd, "encoder.transformer", cfg.depth, cfg.heads, first, rest), rest


def reference_lifter(sd, cfg, keypoints2d, mask):
    """(seq3d, target3d) of MPMLifter computed the plain way."""
    root_zero = torch.ones(cfg.num_joints, 1)
    root_zero[0] = 0
    tokens, _ = _encode(sd, cfg, keypoints2d, mask)
    b, t, j, _ = keypoints2d.shape
    seq3d = F.linear(tokens, sd["head_seq.weight"], sd["head_seq.bias"]).view(b, t, j, 3) * root_zero
    x, length = tokens, cfg.window
    for i, stride in enumerate(cfg.stride_schedule):
        p = f"strided.{i}"
        steps = torch.arange(length)
        x = x + sd[p + ".pos_embed"]
        x = x + _attention(_ln(x, sd, p + ".norm1"), sd, p + ".attn", cfg.heads,
                           causal_allowed(steps, steps, 0) if cfg.causal else None)
        h = F.gelu(_conv(_ln(x, sd, p + ".norm2").transpose(1, 2), sd, p + ".ffn.0"))
        reduced = _conv(h, sd, p + ".ffn.3", stride=stride).transpose(1, 2)
        pick = stride - 1 if cfg.causal else stride // 2
        x = x[:, pick::stride] + reduced
        length //= stride
    x = _ln(x, sd, "strided_norm")
    target3d = F.linear(x, sd["head_target.weight"], sd["head_target.bias"]).view(b, 1, j, 3) * root_zero
    return seq3d, target3d


def reference_complete(sd, cfg, pose3d, mask):
    root_zero = torch.ones(cfg.num_joints, 1)
    root_zero[0] = 0
    tokens, rest = _encode(sd, cfg, pose3d, mask)
    x = _stack(tokens + sd["decoder_pos_embed"], sd, "decoder3d", cfg.decoder_depth, cfg.heads, rest, rest)
    b, t, j, _ = pose3d.shape
    return F.linear(x, sd["head3d.weight"], sd["head3d.bias"]).view(b, t, j, 3) * root_zero


def _inputs(cfg, coords, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(batch, cfg.window, cfg.num_joints, coords, generator=g) * 0.3
    mask = torch.rand(batch, cfg.window, cfg.num_joints, generator=g) < 0.3
    mask[0] = False  # one fully visible window
    return pose, mask


# ------------------------------------------------------------------ shipped checkpoints

def test_every_shipped_checkpoint_is_covered():
    assert set(SHIPPED_LIFTERS) | {"mpm_pretrain_t27_causal"} <= set(list_pretrained())


@pytest.mark.parametrize("name", SHIPPED_LIFTERS)
def test_shipped_lifter_matches_plain_formulation(name):
    model, cfg, _ = load_checkpoint(name, kind="lifter")
    sd = read_checkpoint(name)["state_dict"]
    assert set(model.state_dict()) == set(sd)  # the graph form added no persistent state
    keypoints2d, mask = _inputs(cfg, 2)
    with torch.no_grad():
        seq3d, target3d = model(keypoints2d, mask)
        ref_seq, ref_target = reference_lifter(sd, cfg, keypoints2d, mask)
    assert float(ref_target.abs().max()) > 0.05
    assert float((target3d - ref_target).abs().max()) <= TOLERANCE
    assert float((seq3d - ref_seq).abs().max()) <= TOLERANCE


def test_shipped_pretrain_completion_matches_plain_formulation():
    model, cfg, _ = load_checkpoint("mpm_pretrain_t27_causal", kind="pretrain")
    sd = read_checkpoint("mpm_pretrain_t27_causal")["state_dict"]
    assert set(model.state_dict()) == set(sd)
    pose3d, mask = _inputs(cfg, 3)
    with torch.no_grad():
        got, expected = model.complete(pose3d, mask), reference_complete(sd, cfg, pose3d, mask)
    assert float(expected.abs().max()) > 0.05
    assert float((got - expected).abs().max()) <= TOLERANCE


def test_shipped_causal_lifter_onnx_matches_plain_formulation(tmp_path):
    from mpm_model.deploy.bench_models import ort_session

    model, cfg, _ = load_checkpoint("mpm_t27_causal", kind="lifter")
    sd = read_checkpoint("mpm_t27_causal")["state_dict"]
    export_onnx(model, cfg, tmp_path / "lifter.onnx", batch_max=4)
    keypoints2d, mask = _inputs(cfg, 2, batch=3, seed=1)
    out = ort_session(tmp_path / "lifter.onnx", 1).run(None, {"keypoints2d": keypoints2d.numpy(),
                                                               "mask": mask.numpy()})[0]
    with torch.no_grad():
        expected = reference_lifter(sd, cfg, keypoints2d, mask)[1].numpy()
    assert np.abs(out - expected).max() <= 1e-4


# ------------------------------------------------------------------ masks, buffers, training mode

@pytest.mark.parametrize("lookahead", [0, 2])
def test_causal_masks_are_float_non_persistent_buffers(lookahead):
    cfg = ModelConfig(window=27, causal=True, lookahead=lookahead, **TINY)
    model = MPMLifter(cfg)
    frames = torch.arange(27)
    first, rest = model.encoder.first_bias, model.encoder.rest_bias
    assert first.dtype == torch.float32 and set(first.unique().tolist()) == {0.0, float("-inf")}
    assert torch.equal(first == 0, causal_allowed(frames, frames, lookahead))
    assert torch.equal(rest == 0, causal_allowed(frames, frames, 0))
    assert not any(k.endswith(("first_bias", "rest_bias", "attn_bias")) for k in model.state_dict())
    centred = MPMLifter(cfg.replace(causal=False, lookahead=0))
    assert centred.encoder.first_bias is None and centred.strided[0].attn_bias is None


def test_attention_accepts_a_boolean_permission():
    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(0)
    attn = MPMLifter(cfg).encoder.transformer.blocks[0].attn.eval()
    x = torch.randn(2, 27, cfg.d_model)
    allowed = causal_allowed(torch.arange(27), torch.arange(27), 1)
    with torch.no_grad():
        assert torch.allclose(attn(x, allowed), attn(x, attention_bias(allowed)), atol=1e-6)


def test_training_mode_uses_batch_statistics_and_updates_them():
    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(0)
    model = MPMLifter(cfg, dropout=0.0)
    keypoints2d, mask = _inputs(cfg, 2, batch=4)
    before = model.encoder.encoder2d.net[1].running_mean.clone()
    train_out = model.train()(keypoints2d, mask)[1]
    assert not torch.equal(before, model.encoder.encoder2d.net[1].running_mean)
    with torch.no_grad():
        eval_out = model.eval()(keypoints2d, mask)[1]
    assert not torch.allclose(train_out, eval_out, atol=1e-4)
    model.train()(keypoints2d, mask)[1].sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("head_seq"))


def test_pretrain_keep_index_path_is_causal():
    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(0)
    model = MPMPretrainModel(cfg, dropout=0.0).eval()
    pose = torch.randn(2, 27, 17, 3)
    keep = torch.arange(0, 27, 2).expand(2, -1)
    mask = torch.zeros(2, 27, 17, dtype=torch.bool)
    with torch.no_grad():
        tokens = model.encoder(pose, mask, keep)
        moved = pose.clone()
        moved[:, 20:] += 1.0  # frames after kept frame 18 (index 9)
        assert torch.allclose(model.encoder(moved, mask, keep)[:, :10], tokens[:, :10], atol=1e-5)


# ------------------------------------------------------------------ the exported graph

def test_exported_graph_is_the_fusable_form(tmp_path):
    import onnxruntime as ort

    cfg = ModelConfig(window=27, causal=True, **TINY)
    torch.manual_seed(0)
    path = tmp_path / "lifter.onnx"
    export_onnx(MPMLifter(cfg).eval(), cfg, path, batch_max=4)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert not ops & {"IsNaN", "Conv", "BatchNormalization"}  # float mask; no conv or BN left
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    fused = [n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    assert fused.count("BiasGelu") == cfg.depth + len(cfg.stride_schedule)  # every GELU fused with its bias
    assert "Erf" not in fused and "Transpose" not in fused[:8]  # encoder runs on (B, T, C): no layout swap
