"""Warm starts across window lengths (mpm_model.training.warm): what is copied, how the position embeddings are
resized, and that a strided layer the source lacks starts as a plain picker of the source's tokens."""
import pytest
import torch

from mpm_model.checkpoint import build_model
from mpm_model.config import ModelConfig
from mpm_model.training.warm import resize_embedding, widen_lifter

SMALL = ModelConfig(window=9, d_model=32, ffn_dim=32, encoder_hidden=32, heads=4, depth=1, causal=True)


def _lifters(source_cfg: ModelConfig, cfg: ModelConfig):
    torch.manual_seed(0)
    source = build_model("lifter", source_cfg).eval()
    return source, build_model("lifter", cfg).eval()


def test_extend_puts_the_target_frames_together_and_interpolate_keeps_the_ends():
    embed = torch.randn(1, 9, 4)
    extended = resize_embedding(embed, 27, "extend", source_target=8, target=24)  # causal 9 -> causal 27, look-ahead 2
    assert torch.equal(extended[:, 16:25], embed) and torch.equal(extended[:, 25:], embed[:, 8:].expand(1, 2, 4))
    assert torch.equal(extended[:, :16], embed[:, :1].expand(1, 16, 4))
    stretched = resize_embedding(embed, 27, "interpolate", 4, 13)
    assert torch.allclose(stretched[:, [0, -1]], embed[:, [0, -1]]) and stretched.shape == (1, 27, 4)
    with pytest.raises(ValueError, match="embedding method"):
        resize_embedding(embed, 27, "nearest", 4, 13)


@pytest.mark.parametrize("method", ["interpolate", "extend"])
def test_a_longer_window_gets_every_weight_and_a_picking_first_layer(method):
    cfg = SMALL.replace(window=27, lookahead=2)
    source, model = _lifters(SMALL, cfg)
    report = widen_lifter(source, SMALL, model, cfg, method)
    assert report["resized"] == ["encoder.pos_embed"] and all(k.startswith("strided.0.") for k in report["new"])
    src, dst = source.state_dict(), model.state_dict()
    for k in src:  # the source's strided layers sit where the token counts match (27 -> 9 -> 3 -> 1: layers 1, 2)
        target = f"strided.{int(k.split('.')[1]) + 1}.{k.split('.', 2)[2]}" if k.startswith("strided.") else k
        assert k == "encoder.pos_embed" or torch.equal(dst[target], src[k]), k
    tokens = torch.randn(2, 27, cfg.d_model)  # (B, T, d)
    assert torch.allclose(model.strided[0](tokens), tokens[:, 2::3])  # causal residual frame of each group
    with torch.no_grad():  # so the new head on 27 tokens is the source's head on every third token
        assert torch.allclose(model.target_from_tokens(tokens), source.target_from_tokens(tokens[:, 2::3]), atol=1e-6)


def test_only_the_window_may_differ():
    cfg = SMALL.replace(window=27, d_model=64, heads=4)
    source, model = _lifters(SMALL, cfg)
    with pytest.raises(ValueError, match="d_model"):
        widen_lifter(source, SMALL, model, cfg)
    tcn = SMALL.replace(arch="tcn", window=27)
    with pytest.raises(ValueError, match="transformer"):
        widen_lifter(source, SMALL, build_model("lifter", tcn), tcn)
