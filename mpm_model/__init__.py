"""mpm_model: ROS-free MPM (masked pose modeling) library — model, data, training, export, backends."""
from mpm_model.checkpoint import (CheckpointError, list_pretrained, load_checkpoint, load_model, load_pretrained,
                                  save_checkpoint)
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter, MPMPretrainModel, PoseEncoder
from mpm_model.tcn import TCNLifter

__all__ = [
    "CheckpointError", "MPMLifter", "MPMPretrainModel", "ModelConfig", "PoseEncoder", "TCNLifter",
    "list_pretrained", "load_checkpoint", "load_model", "load_pretrained", "save_checkpoint",
]
