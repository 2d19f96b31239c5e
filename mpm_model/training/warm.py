"""Warm starts across window lengths: a lifter of window T' initialised from a trained lifter of window T.

Only the temporal position embeddings and the strided head's schedule depend on the window (ModelConfig): every
other weight is copied as is. The encoder's position embeddings are resized ("interpolate": stretched linearly over
the new window; "extend": the source's embeddings placed so both target frames coincide, the first / last one
repeated outwards). The strided head keeps the source's layers for the same token lengths (T'=81 has 81→27→9→3→1,
T=27 has 27→9→3→1: the last three are the source's); a layer the source lacks starts as a plain picker (its
attention output, FFN output and position embedding zero), so at step 0 it hands the source's layers every
`stride`-th token, the model's own residual frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mpm_model.config import ModelConfig

EMBED_METHODS = ("interpolate", "extend")
_NEW_LAYER_ZEROS = ("pos_embed", "attn.proj.weight", "attn.proj.bias", "ffn.3.weight", "ffn.3.bias")


def resize_embedding(embed: torch.Tensor, length: int, method: str, source_target: int, target: int) -> torch.Tensor:
    """(1, T, d) position embeddings -> (1, length, d); `source_target` / `target`: the reported frame of each."""
    if method == "interpolate":
        return F.interpolate(embed.transpose(1, 2), size=length, mode="linear", align_corners=True).transpose(1, 2)
    if method == "extend":
        index = (torch.arange(length) - (target - source_target)).clamp(0, embed.shape[1] - 1)
        return embed[:, index]
    raise ValueError(f"embedding method must be one of {EMBED_METHODS}, got {method!r}")


def widen_lifter(source: nn.Module, source_cfg: ModelConfig, model: nn.Module, cfg: ModelConfig,
                 method: str = "interpolate") -> dict[str, list[str]]:
    """Load `source` (an MPMLifter of `source_cfg`) into `model` (an MPMLifter of `cfg`), in place.

    Returns {"copied", "resized", "new"}: the parameter names of `model` by how they were set."""
    if source_cfg.arch != "mpm" or cfg.arch != "mpm":
        raise ValueError(f"warm starts across windows are for the transformer (arch 'mpm'), got "
                         f"{source_cfg.arch!r} -> {cfg.arch!r}")
    same = {k: (getattr(source_cfg, k), getattr(cfg, k)) for k in
            ("num_joints", "encoder_hidden", "d_model", "ffn_dim", "heads", "depth") if
            getattr(source_cfg, k) != getattr(cfg, k)}
    if same:
        raise ValueError(f"only the window may differ in a warm start, also differs: {same}")
    lengths_src = _layer_lengths(source_cfg)
    lengths_dst = _layer_lengths(cfg)
    src = source.state_dict()
    state, report = model.state_dict(), {"copied": [], "resized": [], "new": []}
    for key, value in state.items():
        name = key
        if key.startswith("strided."):
            layer, rest = key.split(".", 2)[1:]
            length = lengths_dst[int(layer)]
            if length not in lengths_src:  # a layer the source has not got: starts as a picker
                state[key] = torch.zeros_like(value) if rest in _NEW_LAYER_ZEROS else src[f"strided.0.{rest}"].clone()
                report["new"].append(key)
                continue
            name = f"strided.{lengths_src.index(length)}.{rest}"
        if src[name].shape == value.shape:
            state[key] = src[name].clone()
            report["copied"].append(key)
        elif key == "encoder.pos_embed":
            state[key] = resize_embedding(src[name], value.shape[1], method, source_cfg.target_index,
                                          cfg.target_index)
            report["resized"].append(key)
        else:
            raise ValueError(f"{key}: shape {tuple(value.shape)} cannot come from {name} {tuple(src[name].shape)}")
    model.load_state_dict(state)
    return report


def _layer_lengths(cfg: ModelConfig) -> list[int]:
    """Token count entering each strided layer: (81, 27, 9, 3) for window 81."""
    lengths, length = [], cfg.window
    for stride in cfg.stride_schedule:
        lengths.append(length)
        length //= stride
    return lengths
