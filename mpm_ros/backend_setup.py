"""Backend creation for the node from its parameters (ROS-free): engine cache dir, untrained fallback, config check."""
from __future__ import annotations

from pathlib import Path

from mpm_model.checkpoint import resolve
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends import Backend, create_backend, default_engine_dir
from mpm_model.files import file_sha256
from mpm_model.streaming.refiner import RefinerWeights, refiner_for
from mpm_model.untrained import random_checkpoint
from mpm_ros.params import LifterParams

UNTRAINED_SEED = 0
UNTRAINED_WARNING = "checkpoint is empty: using a randomly initialised model — untrained — outputs are not meaningful"


def untrained_checkpoint(directory: Path) -> Path:
    """A seeded random-init lifter of the default ModelConfig (seeded: restarts reuse the same file and export)."""
    config = ModelConfig()
    path = directory / f"untrained_t{config.window}_{'causal' if config.causal else 'centred'}.pt"
    return random_checkpoint(path, config, seed=UNTRAINED_SEED)


def model_problem(config: ModelConfig) -> str | None:
    """Why a loaded model cannot serve the node (its shape is otherwise the node's: window, mode, fps), or None."""
    if config.num_joints != 17:
        return f"the node serves H36M-17 skeletons but the model has {config.num_joints} joints"
    return None


def build_backend(params: LifterParams) -> tuple[Backend, bool]:
    """(backend, untrained) for validated parameters; raises ValueError/RuntimeError/OSError with the reason."""
    engine_dir = Path(params.engine_dir) if params.engine_dir else default_engine_dir()
    engine_dir.mkdir(parents=True, exist_ok=True)
    untrained = not params.checkpoint
    checkpoint = untrained_checkpoint(engine_dir) if untrained else params.checkpoint
    backend = create_backend(params.backend, checkpoint=checkpoint, device=params.device or None,
                             precision=params.precision, engine_dir=engine_dir, threads=params.ort_threads or None,
                             spinning=params.ort_spinning)
    return backend, untrained


def pose_refiner(checkpoint: str) -> tuple[RefinerWeights | None, str]:
    """The learned pose refiner trained for these lifter weights (by the file's sha256), or (None, why not)."""
    if not checkpoint:
        return None, "no pose refiner for an untrained model"
    try:
        return refiner_for(file_sha256(resolve(checkpoint)))
    except (OSError, ValueError) as exc:
        return None, f"no pose refiner: cannot read the lifter weights ({type(exc).__name__}: {exc})"
