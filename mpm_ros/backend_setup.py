"""Backend creation for the node from its parameters (ROS-free): engine cache dir, untrained fallback, config check."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from mpm_model.deploy.backends import Backend, create_backend
from mpm_model.config import ModelConfig
from mpm_ros.params import LifterParams

DEFAULT_WINDOW = 27
UNTRAINED_SEED = 0
UNTRAINED_WARNING = "checkpoint is empty: using a randomly initialised model — untrained — outputs are not meaningful"


def default_engine_dir() -> Path:
    """$ROS_HOME/mpm_ros/engines, or ~/.ros/mpm_ros/engines."""
    ros_home = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")
    return Path(ros_home) / "mpm_ros" / "engines"


def untrained_checkpoint(params: LifterParams, directory: Path) -> Path:
    """A seeded random-init lifter of the default config with the requested window/causal/lookahead.

    Seeded so restarts produce the same weights (and the ONNX export cache keyed by weights is reused).
    """
    from mpm_model.checkpoint import save_checkpoint
    from mpm_model.model import MPMLifter

    config = ModelConfig().replace(window=params.window or DEFAULT_WINDOW, causal=params.causal,
                                   lookahead=params.lookahead)
    mode = f"causal{config.lookahead}" if config.causal else "centred"
    path = directory / f"untrained_t{config.window}_{mode}.pt"
    if not path.is_file():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            model = MPMLifter(config)
        save_checkpoint(path, model, config, "lifter", train_args={"untrained": True}, data_hash="untrained")
    return path


def model_mismatch(params: LifterParams, config: ModelConfig) -> list[str]:
    """Why the loaded model cannot serve these parameters (empty list = it can)."""
    errors = []
    if params.window and params.window != config.window:
        errors.append(f"window={params.window} but the model has window={config.window} (set window: 0 to follow it)")
    if params.causal != config.causal:
        errors.append(f"causal={params.causal} but the model has causal={config.causal}")
    if params.lookahead != config.lookahead:
        errors.append(f"lookahead={params.lookahead} but the model has lookahead={config.lookahead}")
    if config.num_joints != 17:
        errors.append(f"the node serves H36M-17 skeletons but the model has {config.num_joints} joints")
    return errors


def build_backend(params: LifterParams) -> tuple[Backend, bool]:
    """(backend, untrained) for validated parameters; raises ValueError/RuntimeError/OSError with the reason."""
    engine_dir = Path(params.engine_dir) if params.engine_dir else default_engine_dir()
    engine_dir.mkdir(parents=True, exist_ok=True)
    untrained = not params.checkpoint
    checkpoint = untrained_checkpoint(params, engine_dir) if untrained else params.checkpoint
    backend = create_backend(params.backend, checkpoint=checkpoint, device=params.device or None,
                             precision=params.precision, engine_dir=engine_dir)
    return backend, untrained
