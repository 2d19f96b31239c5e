"""Checkpoints carry their ModelConfig, kind, training arguments and data hash, so a model is never
rebuilt with the wrong shape and every weight file says how it was made.

Every loader takes a file path or a shipped weights name and goes through `resolve`: read_checkpoint (payload,
weights as float32), read_config (config only, no model built), load_checkpoint (model, cfg, meta), load_lifter
(model, cfg). Training writes float32 (`storage` "float32"); shipped weights are stored in half precision
(mpm_model.shipping) and read back to float32 here, so every model computes in float32.
"""
from __future__ import annotations

import datetime
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ModelConfig
from .files import atomic_path
from .model import MPMLifter, MPMPretrainModel
from .tcn import TCNLifter

FORMAT = "mpm_model.checkpoint"
FORMAT_VERSION = 2  # 2: ModelConfig without training settings; `storage` and `reference` keys
# How floating-point weights are stored in the file; they are always loaded as float32.
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# kind -> {ModelConfig.arch: model class}; a lifter is an MPM transformer or the TCN baseline.
KINDS: dict[str, dict[str, type[nn.Module]]] = {"pretrain": {"mpm": MPMPretrainModel},
                                                "lifter": {"mpm": MPMLifter, "tcn": TCNLifter}}


def build_model(kind: str, cfg: ModelConfig, dropout: float = 0.0) -> nn.Module:
    """A fresh model of `kind` ("pretrain" or "lifter") for cfg.arch; dropout is the training setting (0 for
    inference: it is not part of the saved config)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if cfg.arch not in KINDS[kind]:
        raise ValueError(f"no {kind!r} model for arch {cfg.arch!r} (have {sorted(KINDS[kind])})")
    return KINDS[kind][cfg.arch](cfg, dropout=dropout)


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
LOG = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, of the wrong kind, or does not match the expected config."""


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, cfg: ModelConfig, kind: str, train_args: dict[str, Any],
    data_hash: str, optimizer: torch.optim.Optimizer | None = None, epoch: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (files.atomic_path) so an interrupted save never leaves a half file behind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    expected = KINDS[kind].get(cfg.arch)
    if expected is None or not isinstance(model, expected):
        raise ValueError(f"kind {kind!r} with arch {cfg.arch!r} expects "
                         f"{expected.__name__ if expected else 'no model'}, got {type(model).__name__}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": cfg.to_dict(),
        "state_dict": model.state_dict(),
        "train_args": dict(train_args),
        "data_hash": str(data_hash),
        "epoch": epoch,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "storage": "float32",
        "reference": None,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_path(path) as temp:
        torch.save(payload, temp)
    return path


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint file for an existing path or a shipped weights name (file stem in WEIGHTS_DIR): the one
    place a name becomes a file, so every loader accepts both and fails with the same list of shipped names."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = WEIGHTS_DIR / f"{name_or_path}.pt"
    if os.sep not in str(name_or_path) and shipped.is_file():
        return shipped
    raise FileNotFoundError(f"checkpoint not found: {str(name_or_path)!r} is neither a file nor the name of shipped "
                            f"weights in {WEIGHTS_DIR} (shipped: {list_pretrained() or 'none'})")


def _stored(path: Path) -> bool:
    """True for a zip whose entries are all uncompressed (what torch writes; memory-mappable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return False  # torch.load below names the problem


def read_checkpoint(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Payload checked for format, its weights as float32 whatever their storage; raises CheckpointError on
    anything unreadable. Training checkpoints are memory-mapped, so reading the config of a large file does not
    read its weights; shipped ones are deflated (small) and read whole."""
    path = resolve(name_or_path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=_stored(path))
    except Exception as exc:  # torch raises many types for truncated/foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {payload.get('format_version')}, expected {FORMAT_VERSION}")
    missing = [k for k in ("kind", "config", "state_dict", "storage") if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    if payload["storage"] not in STORAGE_DTYPES:
        raise CheckpointError(f"{path}: storage {payload['storage']!r} is not one of {sorted(STORAGE_DTYPES)}")
    if payload["storage"] != "float32":
        payload["state_dict"] = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    return payload


def _checked_config(payload: dict[str, Any], source: str | os.PathLike, kind: str | None,
                    expected_config: ModelConfig | None) -> ModelConfig:
    """The payload's ModelConfig after the kind and expected-config checks shared by read_config and load_checkpoint."""
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"{source}: is a {payload['kind']!r} checkpoint, expected {kind!r}")
    if payload["kind"] not in KINDS:
        raise CheckpointError(f"{source}: unknown kind {payload['kind']!r}")
    try:
        cfg = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: invalid config: {exc}") from exc
    if expected_config is not None and cfg != expected_config:
        diffs = ", ".join(f"{k}: checkpoint {a!r} vs expected {b!r}" for k, (a, b) in cfg.diff(expected_config).items())
        raise CheckpointError(f"{source}: config mismatch ({diffs})")
    return cfg


def read_config(name_or_path: str | os.PathLike, kind: str | None = None) -> ModelConfig:
    """The saved ModelConfig without building the model: what a warm backend start or a parameter check needs."""
    return _checked_config(read_checkpoint(name_or_path), name_or_path, kind, None)


def load_checkpoint(
    name_or_path: str | os.PathLike, *, kind: str | None = None, expected_config: ModelConfig | None = None,
) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Rebuild the model from its saved config (eval mode) -> (model, cfg, meta).

    meta holds kind, train_args, data_hash, epoch, saved_at, extra, licence, storage, reference (shipped weights:
    the fp32 outputs they must reproduce, mpm_model.shipping) and (for resume) optimizer.
    """
    payload = read_checkpoint(name_or_path)
    cfg = _checked_config(payload, name_or_path, kind, expected_config)
    try:
        model = build_model(payload["kind"], cfg)
    except ValueError as exc:
        raise CheckpointError(f"{name_or_path}: {exc}") from exc
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{name_or_path}: weights do not fit the saved config: {exc}") from exc
    model.eval()
    meta = {k: payload.get(k) for k in ("kind", "train_args", "data_hash", "epoch", "saved_at", "extra", "optimizer",
                                        "storage", "reference")}
    meta["licence"] = (meta["extra"] or {}).get("licence")
    if meta["licence"]:
        LOG.info("%s: licence %s", name_or_path, meta["licence"])
    return model, cfg, meta


def load_lifter(name_or_path: str | os.PathLike) -> tuple[nn.Module, ModelConfig]:
    """(lifter, config): what the deployment paths (backends, export, bench) need from a checkpoint."""
    model, cfg, _ = load_checkpoint(name_or_path, kind="lifter")
    return model, cfg


def list_pretrained(kind: str | None = None) -> list[str]:
    """Names of the weights shipped in mpm_model/weights/ (file stem of each .pt), optionally of one kind
    ("lifter" or "pretrain")."""
    paths = sorted(WEIGHTS_DIR.glob("*.pt")) if WEIGHTS_DIR.is_dir() else []
    return [p.stem for p in paths if kind is None or read_checkpoint(p)["kind"] == kind]
