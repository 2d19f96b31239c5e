"""mpm_model: ROS-free MPM (masked pose modeling) library.

model/tcn/config/checkpoint (the networks and their files) · data/ (mocap, cameras, detector model, windows) ·
training/ (pretrain, finetune, evaluate, the shared loop) · deploy/ (export, engines, backends, bench) ·
streaming/ (per-track windows → one batched inference → placed 3D: what the node runs) · vision/ (image → 2D).
"""
from mpm_model import moved  # noqa: F401  (old entry-point paths such as mpm_model.finetune)
from mpm_model.checkpoint import (CheckpointError, list_pretrained, load_checkpoint, load_model, load_pretrained,
                                  save_checkpoint)
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter, MPMPretrainModel, PoseEncoder
from mpm_model.tcn import TCNLifter

__all__ = [
    "CheckpointError", "MPMLifter", "MPMPretrainModel", "ModelConfig", "PoseEncoder", "TCNLifter",
    "list_pretrained", "load_checkpoint", "load_model", "load_pretrained", "save_checkpoint",
]
