"""mpm_model: ROS-free MPM (masked pose modeling) library.

model/tcn/config/checkpoint (the networks and their files) · data/ (mocap, cameras, detector model, windows) ·
training/ (pretrain, finetune, evaluate, the shared loop) · deploy/ (export, engines, backends, bench) ·
streaming/ (per-track windows → one batched inference → placed 3D: what the node runs) · vision/ (image → 2D).
"""
from mpm_model.lazy import lazy_exports

# Re-exported names, imported on first use: `import mpm_model.streaming` (or a node's signal handlers set up
# before the heavy imports) must not pay for torch here.
_EXPORTS = {
    "mpm_model.checkpoint": ("CheckpointError", "list_pretrained", "load_checkpoint", "load_lifter", "read_config",
                             "save_checkpoint"),
    "mpm_model.config": ("ModelConfig",),
    "mpm_model.model": ("MPMLifter", "MPMPretrainModel", "PoseEncoder"),
    "mpm_model.tcn": ("TCNLifter",),
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
