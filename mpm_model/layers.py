"""Building blocks of the MPM networks (mpm_model.model): causal attention masks, attention, transformer stacks,
the per-frame encoder and the shared pose encoder, in the graph form docs/DEPLOYMENT.md describes ("Model
speed"): additive float causal masks built once per window, BatchNorm folded into the per-frame matmuls in eval,
GELU spelt as the erf pattern ONNX Runtime fuses while exporting."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


def _graph_mode() -> bool:
    """True while exporting a graph: use the formulations that ONNX Runtime / TensorRT fuse best."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def causal_allowed(query_pos: torch.Tensor, key_pos: torch.Tensor, lookahead: int) -> torch.Tensor:
    """Attention permission (..., Nq, Nk), True where key frame <= query frame + lookahead."""
    return key_pos.unsqueeze(-2) <= query_pos.unsqueeze(-1) + lookahead


def attention_bias(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive attention mask from a boolean permission: 0 where allowed, -inf elsewhere (same shape)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, float("-inf"))


def causal_bias(query_pos: torch.Tensor, key_pos: torch.Tensor, lookahead: int) -> torch.Tensor:
    """`causal_allowed` as an additive float mask (..., Nq, Nk)."""
    return attention_bias(causal_allowed(query_pos, key_pos, lookahead))


def _gelu(act: nn.GELU, x: torch.Tensor) -> torch.Tensor:
    """nn.GELU; while exporting, exact GELU spelt x * 0.5 * (1 + erf(x / sqrt 2)), which ONNX Runtime fuses
    (with the preceding bias add) into one BiasGelu node; the exporter's own decomposition is not fused."""
    if _graph_mode() and act.approximate == "none":
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return act(x)


def _fold_bn(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (out, in), bias (out,)) of Linear == eval-mode BatchNorm(Conv1d k=1) on (..., in) tokens."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight.squeeze(-1) * scale.unsqueeze(-1), (conv.bias - bn.running_mean) * scale + bn.bias


def _conv_bn_act(x: torch.Tensor, conv: nn.Conv1d, bn: nn.BatchNorm1d, act: nn.Module, drop: nn.Module,
                 training: bool) -> torch.Tensor:
    """Conv1d(k=1) + BatchNorm1d + activation + dropout on (B, T, C) tokens -> (B, T, C')."""
    if training:  # batch statistics: the modules as they are, in their (B, C, T) layout
        return drop(act(bn(conv(x.transpose(1, 2))))).transpose(1, 2)
    return act(F.linear(x, *_fold_bn(conv, bn)))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x (B, N, d); bias: additive float mask (N, N) or (B, 1, N, N), a boolean permission (True = may
        attend, converted), or None."""
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(x).unflatten(-1, (3 * h, d // h)).transpose(1, 2)  # (B, 3H, N, dh)
        # Slices, not split(): Split's num_outputs form (opset 18) does not convert down to opset 17 (TensorRT 8.x).
        q, k, v = qkv[:, :h], qkv[:, h:2 * h], qkv[:, 2 * h:]  # (B, H, N, dh) each
        if bias is not None and bias.dtype != q.dtype:
            bias = attention_bias(bias, q.dtype) if bias.dtype == torch.bool else bias.to(q.dtype)
        # A float mask exports as MatMul-Add-Softmax-MatMul (a boolean one adds Where and IsNaN passes over every
        # (B, H, N, N) score tensor), and from opset 23 as one ONNX Attention node.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
    """Pre-LN transformer encoder layer."""

    def __init__(self, cfg: ModelConfig, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.heads, dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ffn_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(cfg.ffn_dim, cfg.d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), bias))
        fc1, act, drop, fc2 = self.mlp
        return x + self.drop(fc2(drop(_gelu(act, fc1(self.norm2(x))))))


class TransformerStack(nn.Module):
    """Blocks + final LayerNorm; `first_bias` masks layer 0, `rest_bias` the others (additive, or None)."""

    def __init__(self, cfg: ModelConfig, depth: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(cfg, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, first_bias: torch.Tensor | None = None,
                rest_bias: torch.Tensor | None = None) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, first_bias if i == 0 else rest_bias)
        return self.norm(x)


class FrameEncoder(nn.Module):
    """Per-frame pose embedding: Conv1d(J*C -> hidden, k=1) + BN + LeakyReLU + Dropout."""

    def __init__(self, in_channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(in_channels, hidden, 1), nn.BatchNorm1d(hidden),
                                 nn.LeakyReLU(0.2), nn.Dropout(dropout))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:  # (B, T, J, C) -> (B, T, hidden)
        return _conv_bn_act(pose.flatten(2), *self.net, training=self.training)


class SharedBlock(nn.Module):
    """Residual MLP shared by the 2D and 3D paths: hidden -> hidden (residual) -> d_model."""

    def __init__(self, hidden: int, d_model: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Conv1d(hidden, hidden, 1), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        self.residual = nn.Sequential(*layers)
        self.out = nn.Conv1d(hidden, d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, hidden) -> (B, T, d_model)
        y = _conv_bn_act(x, *self.residual[:4], training=self.training)
        y = _conv_bn_act(y, *self.residual[4:], training=self.training)
        return F.linear(x + y, self.out.weight.squeeze(-1), self.out.bias)


class PoseEncoder(nn.Module):
    """Joint-mask tokens + modality encoder + shared block + temporal transformer (shared by 2D and 3D)."""

    def __init__(self, cfg: ModelConfig, with_3d: bool, dropout: float) -> None:
        super().__init__()
        self.cfg = cfg
        j = cfg.num_joints
        self.joint_token2d = nn.Parameter(torch.randn(j, 2) * 0.02)
        self.encoder2d = FrameEncoder(j * 2, cfg.encoder_hidden, dropout)
        if with_3d:
            self.joint_token3d = nn.Parameter(torch.randn(j, 3) * 0.02)
            self.encoder3d = FrameEncoder(j * 3, cfg.encoder_hidden, dropout)
        self.shared_block = SharedBlock(cfg.encoder_hidden, cfg.d_model, dropout)
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.window, cfg.d_model) * 0.02)
        self.transformer = TransformerStack(cfg, cfg.depth, dropout)
        # Additive causal masks of the full window (None when centred); not in the state_dict.
        frames = torch.arange(cfg.window)
        first, rest = (causal_bias(frames, frames, cfg.lookahead), causal_bias(frames, frames, 0)) \
            if cfg.causal else (None, None)
        self.register_buffer("first_bias", first, persistent=False)
        self.register_buffer("rest_bias", rest, persistent=False)

    def frame_features(self, pose: torch.Tensor, joint_mask: torch.Tensor) -> torch.Tensor:
        """Per-frame part: mask tokens + modality encoder + shared block, (B, T, J, C) -> (B, T, d_model).

        Frame t's row depends on frame t's input only (in eval mode), so a stream can cache it."""
        token = self.joint_token2d if pose.shape[-1] == 2 else self.joint_token3d
        pose = torch.where(joint_mask.unsqueeze(-1), token.to(pose.dtype), pose)  # (B, T, J, C)
        return self.shared_block((self.encoder2d if pose.shape[-1] == 2 else self.encoder3d)(pose))

    def forward(self, pose: torch.Tensor, joint_mask: torch.Tensor,
                keep_index: torch.Tensor | None = None) -> torch.Tensor:
        """pose (B, T, J, C) with C in {2, 3}, joint_mask (B, T, J) True=masked, keep_index (B, K) or None.

        Returns encoded tokens (B, K, d_model) for the kept frames (all T frames when keep_index is None).
        """
        return self.temporal(self.frame_features(pose, joint_mask), keep_index)

    def temporal(self, features: torch.Tensor, keep_index: torch.Tensor | None = None) -> torch.Tensor:
        """Window part: position embedding + temporal transformer on frame_features (B, T, d_model)."""
        x = features + self.pos_embed  # (B, T, d)
        first, rest = self.first_bias, self.rest_bias
        if keep_index is not None:
            x = x.gather(1, keep_index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))  # (B, K, d)
            if self.cfg.causal:
                first = causal_bias(keep_index, keep_index, self.cfg.lookahead).unsqueeze(1)  # (B, 1, K, K)
                rest = causal_bias(keep_index, keep_index, 0).unsqueeze(1)
        return self.transformer(x, first, rest)
