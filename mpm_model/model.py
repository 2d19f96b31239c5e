"""MPM networks: shared pose encoder, masked 2D/3D pretraining model and the P-STMO-style lifter.

Causal models: only the first encoder layer may look `lookahead` frames ahead; every later attention is
strictly causal, so the output for frame t depends on input frames <= t + lookahead and no more
(a per-layer lookahead would compound with depth).

Graph form (docs/DEPLOYMENT.md, "Model speed"): causal masks are additive float buffers (0 / -inf, built once
per window, non-persistent, so checkpoints are unchanged); in eval mode BatchNorm is folded into the per-frame
linear layers and every 1x1 / strided Conv1d runs as a matmul on (B, T, C) tokens, so no layout transposes
remain; while exporting (torch.export / ONNX) GELU is spelt as the erf pattern ONNX Runtime fuses into BiasGelu.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import Attention, PoseEncoder, TransformerStack, _gelu, _graph_mode, causal_bias
from .masking import PretrainObjective, random_frame_drop, random_joint_mask


def _skip_checks() -> bool:
    """Input checks are Python control flow on data: skip them while exporting or compiling."""
    return torch.compiler.is_exporting() or torch.compiler.is_compiling() or torch.jit.is_tracing()


def validate_pose(name: str, pose: torch.Tensor, cfg: ModelConfig, coords: int,
                  mask: torch.Tensor | None = None) -> None:
    """Raise ValueError unless pose is (B, window, J, coords) float with finite values at unmasked joints."""
    if _skip_checks():
        return
    expected = f"(B, {cfg.window}, {cfg.num_joints}, {coords})"
    if not isinstance(pose, torch.Tensor) or not pose.is_floating_point():
        raise ValueError(f"{name} must be a float tensor {expected}, got {type(pose).__name__}")
    if pose.dim() != 4 or tuple(pose.shape[1:]) != (cfg.window, cfg.num_joints, coords) or pose.shape[0] < 1:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(pose.shape)}")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != pose.shape[:3]:
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must be a bool tensor of shape {tuple(pose.shape[:3])}, got {got}")
        finite = torch.isfinite(pose).all(dim=-1) | mask
    else:
        finite = torch.isfinite(pose).all(dim=-1)
    if not bool(finite.all()):
        raise ValueError(f"{name} has {int((~finite).sum())} non-finite unmasked joints (mask them instead)")


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean joint error over every joint and frame."""
    return (pred - target).norm(dim=-1).mean()


def masked_mpjpe_loss(pred: torch.Tensor, target: torch.Tensor, missing: torch.Tensor | None) -> torch.Tensor:
    """mpjpe_loss over the joints that have data (missing (B, T, J) True = no target)."""
    if missing is None:
        return mpjpe_loss(pred, target)
    valid = (~missing).to(pred.dtype)
    error = (pred - torch.where(missing.unsqueeze(-1), pred.detach(), target)).norm(dim=-1)
    return (error * valid).sum() / valid.sum().clamp(min=1.0)


def _root_zero(cfg: ModelConfig) -> torch.Tensor:
    keep = torch.ones(cfg.num_joints, 1)
    keep[0] = 0.0
    return keep


@dataclass
class PretrainOutput:
    """Predictions for every frame + the masks that were drawn (True = masked) + losses."""

    loss: torch.Tensor | None = None  # objective.loss_weight_2d * loss2d + objective.loss_weight_3d * loss3d
    loss2d: torch.Tensor | None = None
    loss3d: torch.Tensor | None = None
    pred2d: torch.Tensor | None = None  # (B, T, J, 2)
    pred3d: torch.Tensor | None = None  # (B, T, J, 3)
    joint_mask2d: torch.Tensor | None = None  # (B, T, J)
    frame_mask2d: torch.Tensor | None = None  # (B, T)
    joint_mask3d: torch.Tensor | None = None
    frame_mask3d: torch.Tensor | None = None


class MPMPretrainModel(nn.Module):
    """Masked 2D and masked 3D pose modeling through one shared encoder; small per-modality decoders."""

    def __init__(self, cfg: ModelConfig, dropout: float = 0.0,
                 objective: PretrainObjective = PretrainObjective()) -> None:
        """dropout and objective are training settings (a loaded checkpoint is built without them)."""
        super().__init__()
        objective.check(cfg.num_joints, cfg.window)
        self.cfg, self.objective = cfg, objective
        self.encoder = PoseEncoder(cfg, with_3d=True, dropout=dropout)
        self.mask_token = nn.Parameter(torch.randn(1, 1, cfg.d_model) * 0.02)
        self.decoder_pos_embed = nn.Parameter(torch.randn(1, cfg.window, cfg.d_model) * 0.02)
        self.decoder2d = TransformerStack(cfg, cfg.decoder_depth, dropout)
        self.decoder3d = TransformerStack(cfg, cfg.decoder_depth, dropout)
        self.head2d = nn.Linear(cfg.d_model, cfg.num_joints * 2)
        self.head3d = nn.Linear(cfg.d_model, cfg.num_joints * 3)
        self.register_buffer("root_zero", _root_zero(cfg), persistent=False)

    def _decode(self, tokens: torch.Tensor, keep_index: torch.Tensor | None, coords: int) -> torch.Tensor:
        """tokens (B, K, d) at keep_index -> pose (B, T, J, coords); dropped frames get the mask token."""
        b, _, d = tokens.shape
        if keep_index is None:
            full = tokens
        else:
            full = self.mask_token.expand(b, self.cfg.window, d).scatter(
                1, keep_index.unsqueeze(-1).expand(-1, -1, d), tokens)
        full = full + self.decoder_pos_embed
        bias = self.encoder.rest_bias
        decoder, head = (self.decoder2d, self.head2d) if coords == 2 else (self.decoder3d, self.head3d)
        pose = head(decoder(full, bias, bias)).view(b, self.cfg.window, self.cfg.num_joints, coords)
        return pose if coords == 2 else pose * self.root_zero

    def _mask_counts(self, vary: bool, generator: torch.Generator | None) -> tuple[int, int]:
        """(masked joints per frame, dropped frames): the config's, or with `vary` for half the batches a
        uniform draw up to them, so the encoder also learns sparse masks and full-length sequences
        (what completion and lifting feed it) and not only the nominal 71.8 %."""
        joints, frames = self.objective.spatial_mask_joints, self.objective.masked_frames(self.cfg.window)
        if not vary or float(torch.rand((), generator=generator)) < 0.5:
            return joints, frames
        draw = torch.rand(2, generator=generator)
        return int(draw[0] * (joints + 1)), int(draw[1] * (frames + 1))

    def _masked_reconstruction(self, pose: torch.Tensor, missing: torch.Tensor | None,
                               generator: torch.Generator | None, vary: bool = False):
        b, t, j, c = pose.shape
        cpu_gen = generator if generator is None or generator.device.type == "cpu" else None
        masked_joints, dropped_frames = self._mask_counts(vary, cpu_gen)
        joint_mask = random_joint_mask(b, t, j, masked_joints, generator, pose.device)
        if missing is not None:
            joint_mask = joint_mask | missing
        keep_index, frame_mask = random_frame_drop(b, t, dropped_frames, generator, pose.device)
        pred = self._decode(self.encoder(pose, joint_mask, keep_index), keep_index, c)
        return pred, joint_mask, frame_mask

    def forward(self, pose2d: torch.Tensor | None, pose3d: torch.Tensor | None,
                missing2d: torch.Tensor | None = None, generator: torch.Generator | None = None,
                vary_masks: bool = False) -> PretrainOutput:
        """pose2d (B, T, J, 2) and/or pose3d (B, T, J, 3) root-relative; 2D and 3D masks drawn independently.
        `vary_masks` (training) draws smaller mask counts for half the batches (see `_mask_counts`).

        missing2d (B, T, J) True marks 2D joints without data (e.g. outside the image): they are always
        masked in the input and left out of the 2D loss. A generator must live on the inputs' device.
        """
        if pose2d is None and pose3d is None:
            raise ValueError("MPMPretrainModel needs pose2d, pose3d or both")
        out = PretrainOutput()
        total = []
        if pose2d is not None:
            validate_pose("pose2d", pose2d, self.cfg, 2, missing2d)
            out.pred2d, out.joint_mask2d, out.frame_mask2d = self._masked_reconstruction(
                pose2d, missing2d, generator, vary_masks)
            out.loss2d = masked_mpjpe_loss(out.pred2d, pose2d, missing2d)
            total.append(self.objective.loss_weight_2d * out.loss2d)
        if pose3d is not None:
            validate_pose("pose3d", pose3d, self.cfg, 3)
            out.pred3d, out.joint_mask3d, out.frame_mask3d = self._masked_reconstruction(
                pose3d, None, generator, vary_masks)
            out.loss3d = mpjpe_loss(out.pred3d, pose3d * self.root_zero)
            total.append(self.objective.loss_weight_3d * out.loss3d)
        out.loss = torch.stack(total).sum()
        return out

    def complete(self, pose3d: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """3D pose completion: (B, T, J, 3) with mask (B, T, J) True=missing -> full (B, T, J, 3)."""
        validate_pose("pose3d", pose3d, self.cfg, 3, mask)
        return self._decode(self.encoder(pose3d, mask), None, 3)


class StridedLayer(nn.Module):
    """Pre-LN attention, then a strided Conv1d FFN that shrinks the sequence by `stride` (P-STMO)."""

    def __init__(self, cfg: ModelConfig, length: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.stride = stride
        self.pick = stride - 1 if cfg.causal else stride // 2  # residual frame of each group
        self.pos_embed = nn.Parameter(torch.randn(1, length, cfg.d_model) * 0.02)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.heads, dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ffn = nn.Sequential(
            nn.Conv1d(cfg.d_model, cfg.ffn_dim, 1), nn.GELU(), nn.Dropout(dropout),
            nn.Conv1d(cfg.ffn_dim, cfg.d_model, stride, stride=stride))
        self.drop = nn.Dropout(dropout)
        steps = torch.arange(length)
        self.register_buffer("attn_bias", causal_bias(steps, steps, 0) if cfg.causal else None, persistent=False)
        self.causal = cfg.causal

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        """The FFN on (B, N, d) tokens as matmuls: Conv1d(k=1), GELU, then Conv1d(k=s, stride=s) as a Linear
        over each group of s consecutive tokens -> (B, N / s, d)."""
        fc1, act, drop, fc2 = self.ffn
        y = drop(_gelu(act, F.linear(x, fc1.weight.squeeze(-1), fc1.bias)))  # (B, N, F)
        b, n, f = y.shape
        s = self.stride
        if _graph_mode():  # weight permuted once at export (constant-folded): no transpose in the graph
            return F.linear(y.reshape(b, n // s, s * f), fc2.weight.transpose(1, 2).reshape(-1, s * f), fc2.bias)
        # eager: permute the (small) activation, not the weight, so no weight copy per call
        return F.linear(y.view(b, n // s, s, f).transpose(2, 3).reshape(b, n // s, f * s),
                        fc2.weight.view(-1, f * s), fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, d) -> (B, N / stride, d)
        x = x + self.pos_embed
        x = x + self.drop(self.attn(self.norm1(x), self.attn_bias))
        return x[:, self.pick::self.stride] + self.drop(self._reduce(self.norm2(x)))


class MPMLifter(nn.Module):
    """2D -> 3D lifter: pretrained encoder, head A (every frame) and head B (strided, target frame)."""

    def __init__(self, cfg: ModelConfig, dropout: float = 0.0) -> None:
        """dropout is a training setting (fine-tuning passes it; a loaded checkpoint is built without)."""
        super().__init__()
        self.cfg = cfg
        self.encoder = PoseEncoder(cfg, with_3d=False, dropout=dropout)
        self.head_seq = nn.Linear(cfg.d_model, cfg.num_joints * 3)
        layers, length = [], cfg.window
        for stride in cfg.stride_schedule:
            layers.append(StridedLayer(cfg, length, stride, dropout))
            length //= stride
        self.strided = nn.Sequential(*layers)
        self.strided_norm = nn.LayerNorm(cfg.d_model)
        self.head_target = nn.Linear(cfg.d_model, cfg.num_joints * 3)
        self.register_buffer("root_zero", _root_zero(cfg), persistent=False)

    def forward(self, keypoints2d: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keypoints2d (B, T, J, 2), mask (B, T, J) True=masked -> (seq3d (B, T, J, 3), target3d (B, 1, J, 3))."""
        validate_pose("keypoints2d", keypoints2d, self.cfg, 2, mask)
        b, t, j, _ = keypoints2d.shape
        tokens = self.encoder(keypoints2d, mask)  # (B, T, d)
        seq3d = self.head_seq(tokens).view(b, t, j, 3) * self.root_zero
        return seq3d, self.target_from_tokens(tokens)

    def target_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Head B on encoder tokens (B, T, d) -> target3d (B, 1, J, 3)."""
        reduced = self.strided_norm(self.strided(tokens))  # (B, 1, d)
        return self.head_target(reduced).view(tokens.shape[0], 1, self.cfg.num_joints, 3) * self.root_zero

    def lift(self, keypoints2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = torch.zeros(keypoints2d.shape[:-1], dtype=torch.bool, device=keypoints2d.device)
        return self(keypoints2d, mask)

    def lift_occluded(self, keypoints2d: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(keypoints2d, mask)

    def loss(self, keypoints2d: torch.Tensor, mask: torch.Tensor, pose3d: torch.Tensor) -> torch.Tensor:
        """MPJPE(head A, every frame) + MPJPE(head B, target frame)."""
        return self.loss_from_outputs(*self(keypoints2d, mask), pose3d)

    def loss_from_outputs(self, seq3d: torch.Tensor, target3d: torch.Tensor, pose3d: torch.Tensor) -> torch.Tensor:
        """`loss` given forward's outputs (so DistributedDataParallel can run the forward)."""
        ti = self.cfg.target_index
        return mpjpe_loss(seq3d, pose3d) + mpjpe_loss(target3d, pose3d[:, ti:ti + 1])

    def load_pretrained_encoder(self, state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        """Copy the pretrained encoder weights (keys `encoder.*`) that match by name and shape.

        Returns {"copied": [...], "shape_mismatch": [...], "not_in_checkpoint": [...]} (lifter key names).
        """
        own = self.state_dict()
        report: dict[str, list[str]] = {"copied": [], "shape_mismatch": [], "not_in_checkpoint": []}
        updates = {}
        for key, value in own.items():
            if not key.startswith("encoder."):
                continue
            if key not in state_dict:
                report["not_in_checkpoint"].append(key)
            elif state_dict[key].shape != value.shape:
                report["shape_mismatch"].append(key)
            else:
                updates[key] = state_dict[key]
                report["copied"].append(key)
        if not updates:
            raise ValueError("no encoder weights matched: is this a pretrain state_dict with `encoder.*` keys?")
        self.load_state_dict(updates, strict=False)
        return report
