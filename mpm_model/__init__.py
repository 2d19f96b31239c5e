"""mpm_model: ROS-free MPM (masked pose modeling) library.

model/tcn/config/checkpoint (the networks and their files) · data/ (mocap, cameras, detector model, windows) ·
training/ (pretrain, finetune, evaluate, the shared loop) · deploy/ (export, engines, backends, bench) ·
streaming/ (per-track windows → one batched inference → placed 3D: what the node runs) · vision/ (image → 2D).
"""
import importlib

# Re-exported names, imported on first use: `import mpm_model.streaming` (or a node's signal handlers set up
# before the heavy imports) must not pay for torch here.
_EXPORTS = {
    "mpm_model.checkpoint": ("CheckpointError", "list_pretrained", "load_checkpoint", "load_lifter", "read_config",
                             "save_checkpoint"),
    "mpm_model.config": ("ModelConfig",),
    "mpm_model.model": ("MPMLifter", "MPMPretrainModel", "PoseEncoder"),
    "mpm_model.tcn": ("TCNLifter",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'mpm_model' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


__all__ = [
    "CheckpointError", "MPMLifter", "MPMPretrainModel", "ModelConfig", "PoseEncoder", "TCNLifter",
    "list_pretrained", "load_checkpoint", "load_lifter", "read_config", "save_checkpoint",
]
