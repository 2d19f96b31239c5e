"""Seeded random-init lifter checkpoints: what the node serves for an empty `checkpoint`, and what the tests,
the stress harness and the backend benchmark run when the weights do not matter (rate, latency, robustness)."""
from __future__ import annotations

from pathlib import Path

from mpm_model.config import ModelConfig


def tiny_config(window: int = 9, causal: bool = True, lookahead: int = 0) -> ModelConfig:
    """A very small lifter: exercises the code around the model, never used to judge accuracy."""
    return ModelConfig(window=window, encoder_hidden=32, d_model=32, ffn_dim=64, heads=2, depth=1, decoder_depth=1,
                       causal=causal, lookahead=lookahead)


def random_checkpoint(path: str | Path, config: ModelConfig | None = None, seed: int = 0) -> Path:
    """A seeded random-init lifter of `config` (default: the default ModelConfig) at `path`, kept when it exists.

    Seeded and reused, so restarts hit the same file and the same cached ONNX export (keyed on the file's hash);
    the global torch RNG is left as it was.
    """
    import torch

    from mpm_model.checkpoint import build_model, save_checkpoint

    path = Path(path)
    if path.is_file():
        return path
    config = config or ModelConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model("lifter", config)
    return save_checkpoint(path, model, config, "lifter", train_args={"random_init": True, "seed": seed},
                           data_hash="random-init")
