"""ModelConfig: the single source of truth for an MPM model, saved in every checkpoint and engine sidecar."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


def _is_power_of(value: int, base: int) -> bool:
    while value > 1 and value % base == 0:
        value //= base
    return value == 1


ARCHS = ("mpm", "tcn")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the MPM pretrain model and the lifter: the shape of every tensor and the graph follow from
    these, and nothing else is here. Training settings (dropout, pretraining masks, loss weights) live with
    training (mpm_model.training.loop.TrainOptions, mpm_model.masking.PretrainObjective), so a deployed sidecar
    or ONNX cache key changes only when the graph does."""

    num_joints: int = 17
    window: int = 27
    encoder_hidden: int = 512
    d_model: int = 256
    ffn_dim: int = 512
    heads: int = 8
    depth: int = 4
    decoder_depth: int = 2
    causal: bool = False
    lookahead: int = 0
    # Frame rate (Hz) the model was trained at: the node warns when its input runs at another rate.
    fps: float = 30.0
    # "mpm" (transformer, this module's point) or "tcn" (VideoPose3D-style dilated temporal convolutions,
    # the baseline; d_model = channels, stride_schedule = filter widths, depth/heads unused).
    arch: str = "mpm"
    # Strides of head B's temporal reduction; () means "derive from window" (powers of 3 only).
    stride_schedule: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        schedule = tuple(int(s) for s in self.stride_schedule)
        if not schedule:
            if self.window < 3 or not _is_power_of(self.window, 3):
                raise ValueError(
                    f"window={self.window}: without an explicit stride_schedule the window must be a power of 3 "
                    "(27, 81, 243, ...)"
                )
            schedule = (3,) * round(math.log(self.window, 3))
        object.__setattr__(self, "stride_schedule", schedule)
        self._validate()

    def _validate(self) -> None:
        positive = ("num_joints", "window", "encoder_hidden", "d_model", "ffn_dim", "heads", "depth")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not isinstance(self.decoder_depth, int) or self.decoder_depth < 1:
            raise ValueError(f"decoder_depth must be a positive int, got {self.decoder_depth!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by heads={self.heads}")
        if any(s < 1 for s in self.stride_schedule) or math.prod(self.stride_schedule) != self.window:
            raise ValueError(
                f"stride_schedule {self.stride_schedule} must be positive and multiply to window={self.window}"
            )
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be a bool, got {self.causal!r}")
        if not isinstance(self.lookahead, int) or not 0 <= self.lookahead < self.window:
            raise ValueError(f"lookahead must be an int in [0, window={self.window}), got {self.lookahead!r}")
        if not isinstance(self.fps, (int, float)) or not 0 < float(self.fps) <= 1000:
            raise ValueError(f"fps must be a number in (0, 1000], got {self.fps!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.lookahead and not self.causal:
            raise ValueError("lookahead > 0 only applies to causal models (set causal=True)")

    @property
    def target_index(self) -> int:
        """Frame of the window that head B (and every deployed backend) reports."""
        return self.window - 1 - self.lookahead if self.causal else self.window // 2

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stride_schedule"] = list(self.stride_schedule)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Strict inverse of to_dict: unknown or missing keys are errors, so stale checkpoints fail loudly."""
        if not isinstance(data, dict):
            raise ValueError(f"ModelConfig.from_dict expects a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data))
        if unknown or missing:
            raise ValueError(f"ModelConfig keys do not match: unknown {unknown}, missing {missing}")
        values = dict(data)
        values["stride_schedule"] = tuple(values["stride_schedule"])
        return cls(**values)

    def replace(self, **changes: Any) -> "ModelConfig":
        """Copy with changes; a derived stride_schedule is re-derived when the window changes."""
        if "window" in changes and "stride_schedule" not in changes:
            changes["stride_schedule"] = ()
        return dataclasses.replace(self, **changes)

    def diff(self, other: "ModelConfig") -> dict[str, tuple[Any, Any]]:
        """Fields that differ, as {name: (self, other)} — used for readable mismatch errors."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
