"""VideoPose3D-style temporal convolution lifter (Pavllo et al., CVPR 2019), the baseline MPM is compared to.

Written from the paper: the single-frame ("optimized") form of the dilated TCN, where each block is a
strided convolution of width w over the previous block's outputs, so a window of prod(widths) frames
yields one pose. Same interface as `MPMLifter` (keypoints2d, mask) -> (seq3d, target3d); the TCN only
predicts the target frame, so its seq3d is that one frame (B, 1, J, 3). Masked joints are zeroed and a
visibility channel is appended, so the baseline sees the same information as MPM's mask tokens.
Causal models regress the window's last frame minus lookahead (VideoPose3D's causal mode), centred ones
the middle frame; the residual of each block takes the matching frame of its group.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .model import _root_zero, mpjpe_loss, validate_pose


class TCNBlock(nn.Module):
    """Conv(w, stride w) + BN + ReLU + Dropout, then Conv(1) + BN + ReLU + Dropout, with a sliced residual."""

    def __init__(self, channels: int, width: int, dropout: float, pick: int) -> None:
        super().__init__()
        self.width, self.pick = width, pick
        self.net = nn.Sequential(
            nn.Conv1d(channels, channels, width, stride=width, bias=False), nn.BatchNorm1d(channels, momentum=0.1),
            nn.ReLU(), nn.Dropout(dropout),
            nn.Conv1d(channels, channels, 1, bias=False), nn.BatchNorm1d(channels, momentum=0.1),
            nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, N) -> (B, C, N / width)
        return x[:, :, self.pick::self.width] + self.net(x)


class TCNLifter(nn.Module):
    """2D -> 3D temporal convolution network with receptive field cfg.window = prod(cfg.stride_schedule)."""

    def __init__(self, cfg: ModelConfig, dropout: float = 0.0) -> None:
        """dropout is a training setting (fine-tuning passes it; a loaded checkpoint is built without)."""
        super().__init__()
        if cfg.arch != "tcn":
            raise ValueError(f"TCNLifter needs ModelConfig(arch='tcn'), got arch={cfg.arch!r}")
        self.cfg = cfg
        channels, widths = cfg.d_model, cfg.stride_schedule
        first = widths[0]
        self.expand = nn.Sequential(
            nn.Conv1d(cfg.num_joints * 3, channels, first, stride=first, bias=False),
            nn.BatchNorm1d(channels, momentum=0.1), nn.ReLU(), nn.Dropout(dropout))
        self.blocks = nn.Sequential(*(TCNBlock(channels, w, dropout, self._pick(w)) for w in widths[1:]))
        self.head = nn.Conv1d(channels, cfg.num_joints * 3, 1)
        self.register_buffer("root_zero", _root_zero(cfg), persistent=False)

    def _pick(self, width: int) -> int:
        """Residual frame of each group: the newest for causal models, the middle one for centred ones."""
        return width - 1 if self.cfg.causal else width // 2

    def forward(self, keypoints2d: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keypoints2d (B, T, J, 2), mask (B, T, J) True=masked -> (target3d, target3d), each (B, 1, J, 3)."""
        validate_pose("keypoints2d", keypoints2d, self.cfg, 2, mask)
        b, t, j, _ = keypoints2d.shape
        visible = (~mask).unsqueeze(-1).to(keypoints2d.dtype)  # (B, T, J, 1)
        x = torch.cat([keypoints2d * visible, visible], dim=-1)  # (B, T, J, 3); masked entries are 0
        x = self.expand(x.flatten(2).transpose(1, 2))  # (B, C, T / w0)
        x = self.head(self.blocks(x))  # (B, J*3, 1)
        target3d = x.transpose(1, 2).reshape(b, 1, j, 3) * self.root_zero
        return target3d, target3d

    def lift(self, keypoints2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = torch.zeros(keypoints2d.shape[:-1], dtype=torch.bool, device=keypoints2d.device)
        return self(keypoints2d, mask)

    def loss(self, keypoints2d: torch.Tensor, mask: torch.Tensor, pose3d: torch.Tensor) -> torch.Tensor:
        """MPJPE at the target frame (the only frame a single-output TCN predicts)."""
        return self.loss_from_outputs(*self(keypoints2d, mask), pose3d)

    def loss_from_outputs(self, seq3d: torch.Tensor, target3d: torch.Tensor, pose3d: torch.Tensor) -> torch.Tensor:
        """`loss` given forward's outputs (so DistributedDataParallel can run the forward)."""
        ti = self.cfg.target_index
        return mpjpe_loss(target3d, pose3d[:, ti:ti + 1])
