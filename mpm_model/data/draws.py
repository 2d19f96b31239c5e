"""Random sources for the view formulas: one formula, two ways to draw its random numbers.

The view formulas (cameras, detector errors, occlusion, bone scales) are written once, in torch, for a batch of
B windows, and take their random numbers from a `Draws`: `TorchDraws` draws the whole batch on the training
device from a seeded `torch.Generator` (the batched pipeline, `mpm_model.data.views`); `NumpyDraws` draws one
window (B = 1) from a numpy Generator (the per-window datasets of `mpm_model.data.windows`, whose draws are
seeded per item). Every draw is (B, *shape).
"""
from __future__ import annotations

import numpy as np
import torch


class Draws:
    """Interface: `uniform`, `normal`, `integers` and `random` of shape (batch, *shape) on `device`."""

    batch: int
    device: torch.device
    dtype: torch.dtype

    def random(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        raise NotImplementedError

    def normal(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        raise NotImplementedError

    def uniform(self, low: float, high: float, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """Uniform in [low, high): low + (high - low) · random (numpy's formula, so both sources agree)."""
        return low + (high - low) * self.random(shape)

    def integers(self, high: int, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """Integers in [0, high) (int64)."""
        return (self.random(shape) * high).long().clamp(max=high - 1)


class TorchDraws(Draws):
    """A batch of draws from a torch Generator on the generator's device (deterministic per seed)."""

    def __init__(self, generator: torch.Generator, batch: int, dtype: torch.dtype = torch.float32) -> None:
        self.generator, self.batch, self.dtype = generator, int(batch), dtype
        self.device = generator.device

    def random(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.rand((self.batch, *shape), generator=self.generator, device=self.device, dtype=self.dtype)

    def normal(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.randn((self.batch, *shape), generator=self.generator, device=self.device, dtype=self.dtype)


class NumpyDraws(Draws):
    """One window's draws (batch 1) from a numpy Generator, as float64 CPU tensors."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.batch, self.device, self.dtype = rng, 1, torch.device("cpu"), torch.float64

    def random(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.rng.random((1, *shape)), dtype=np.float64))

    def normal(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.rng.standard_normal((1, *shape)), dtype=np.float64))


def generator(device: torch.device | str, *seed: int) -> torch.Generator:
    """A torch Generator on `device` seeded from integers (e.g. seed, epoch), decorrelated by numpy's SeedSequence."""
    value = int(np.random.SeedSequence([abs(int(s)) for s in seed]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device=torch.device(device)).manual_seed(value)
