"""Incremental lifting: one new frame per step for B tracks, reusing the per-frame work of the older frames.

What MPMLifter's structure allows (mpm_model/model.py). Only the per-frame stage — joint-mask tokens, the 2D
encoder and the shared block (`PoseEncoder.frame_features`; BatchNorm in eval mode, no temporal mixing) —
depends on one frame alone, so its (d_model,) row for a frame is computed once, when the frame arrives, and
reused while the frame stays in the window. Everything after it is recomputed each step: the encoder's
position embedding is absolute *within the window* (slot p gets pos_embed[p]), so when the window slides
every older frame changes slot, the input of every transformer layer changes, and so do its keys and values
(no key/value cache can be exact); head B's strided layers also carry absolute position embeddings and group
frames by window slot. The reuse is therefore exact (same arithmetic as `model(window)`, up to float
rounding) but saves only the per-frame stage: 18.6 % of the FLOPs at T=27, 16.0 % at T=243. Measured numbers
(accuracy on the test slice, latency per frame; `python -m mpm_model.deploy.bench_incremental`): docs/DEPLOYMENT.md,
"Model speed". Its one-step ONNX graph: `mpm_model.deploy.export.export_step_onnx`.

`IncrementalLifter.step(keypoints2d (B, J, 2), mask (B, J))` returns what `model(window, mask)[1][:, 0]` returns
for the window of the last T frames of each track, where a track's window starts as T fully masked frames (as
`window_buffer` pads a new track). The output describes the window's `target_index` frame, i.e. the frame
`cfg.window - 1 - cfg.target_index` steps back (0 for a causal model without look-ahead).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mpm_model.model import MPMLifter


class IncrementalLifter:
    """Steps an MPMLifter one frame at a time for `tracks` tracks; caches each frame's per-frame features."""

    def __init__(self, model: MPMLifter, tracks: int = 1) -> None:
        if not isinstance(model, MPMLifter):
            raise TypeError(f"IncrementalLifter needs an MPMLifter, got {type(model).__name__}")
        if tracks < 1:
            raise ValueError(f"tracks must be >= 1, got {tracks}")
        self.model = model.eval()
        self.cfg = model.cfg
        param = next(model.parameters())
        self._device, self._dtype = param.device, param.dtype
        j = self.cfg.num_joints
        with torch.inference_mode():  # the features of a fully masked frame: a new track's padding
            self._padding = model.encoder.frame_features(
                torch.zeros(1, 1, j, 2, device=self._device, dtype=self._dtype),
                torch.ones(1, 1, j, dtype=torch.bool, device=self._device))  # (1, 1, d)
        self.features = self._padding.expand(tracks, self.cfg.window, -1).clone()  # (B, T, d), oldest first

    @property
    def tracks(self) -> int:
        return int(self.features.shape[0])

    @property
    def delay_frames(self) -> int:
        """Steps between the newest input frame and the frame an output describes."""
        return self.cfg.window - 1 - self.cfg.target_index

    @torch.inference_mode()
    def reset(self, tracks: Sequence[int] | None = None) -> None:
        """Forget the history of the given track slots (all when None): their windows restart fully masked."""
        index = slice(None) if tracks is None else torch.as_tensor(list(tracks), dtype=torch.long)
        self.features[index] = self._padding

    def _inputs(self, keypoints2d: np.ndarray | torch.Tensor,
                mask: np.ndarray | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        b, j = self.tracks, self.cfg.num_joints
        points = torch.as_tensor(keypoints2d).to(self._device, self._dtype)
        if points.shape != (b, j, 2):
            raise ValueError(f"keypoints2d must have shape ({b}, {j}, 2), got {tuple(points.shape)}")
        masked = torch.zeros(b, j, dtype=torch.bool, device=self._device) if mask is None \
            else torch.as_tensor(mask).to(self._device)
        if masked.shape != (b, j) or masked.dtype != torch.bool:
            raise ValueError(f"mask must be a bool array of shape ({b}, {j}), got {masked.dtype} {tuple(masked.shape)}")
        bad = ~(torch.isfinite(points).all(dim=-1) | masked)
        if bool(bad.any()):
            raise ValueError(f"keypoints2d has {int(bad.sum())} non-finite unmasked joints (mask them instead)")
        return points, masked

    @torch.inference_mode()
    def step(self, keypoints2d: np.ndarray | torch.Tensor,
             mask: np.ndarray | torch.Tensor | None = None) -> np.ndarray | torch.Tensor:
        """Push one frame for every track -> (B, J, 3) root-relative target pose per track (numpy in, numpy out).

        keypoints2d (B, J, 2) normalised screen coordinates, mask (B, J) True = masked (None: all visible).
        """
        as_numpy = isinstance(keypoints2d, np.ndarray)
        points, masked = self._inputs(keypoints2d, mask)
        encoder = self.model.encoder
        new = encoder.frame_features(points.unsqueeze(1), masked.unsqueeze(1))  # (B, 1, d): the only per-frame work
        self.features = torch.cat([self.features[:, 1:], new], dim=1)
        target = self.model.target_from_tokens(encoder.temporal(self.features))[:, 0]  # (B, J, 3)
        return target.float().cpu().numpy() if as_numpy else target
