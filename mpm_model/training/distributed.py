"""The torchrun process group of the training CLIs (one process when torchrun is not used)."""
from __future__ import annotations

import os

import torch
from torch import nn


class Distributed:
    """torchrun environment (RANK / WORLD_SIZE); a single process when absent."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
            if device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(model)

    def mean(self, value: float) -> float:
        """Mean of a scalar over ranks (validation losses are computed on each rank's shard)."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(tensor)
        return float(tensor) / self.world

    def __enter__(self) -> "Distributed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
