"""ONNX export of MPMLifter's target-frame head (`pose3d`) with a static window and a dynamic batch dimension, and the
shared export cache (`cached_onnx`).

Uses the torch.export-based (dynamo) exporter only: a failure is raised as OnnxExportError with the exporter's
reason, never hidden behind a fallback to the legacy TorchScript exporter (which bakes in shapes).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mpm_model.checkpoint import load_lifter, read_config, resolve
from mpm_model.config import ModelConfig
from mpm_model.files import atomic_path, atomic_write_text, default_engine_dir, file_sha256, fill_once

LOG = logging.getLogger(__name__)
INPUT_NAMES = ("keypoints2d", "mask")
OUTPUT_NAME = "pose3d"
MIN_OPSET = 17  # LayerNormalization is a single op from opset 17
# The code that writes the graph: a change to any of these (a faster formulation, a fix) must not reuse an export.
GRAPH_SOURCES = ("model.py", "layers.py", "tcn.py", "config.py", "deploy/export.py")


class OnnxExportError(RuntimeError):
    """The dynamo exporter (or the ONNX checker) rejected the model."""


class _TargetPose(nn.Module):
    """Exposes only head B: deployment needs the target frame, and dropping head A shrinks the graph."""

    def __init__(self, lifter: nn.Module) -> None:
        super().__init__()
        self.lifter = lifter

    def forward(self, keypoints2d: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _, target3d = self.lifter(keypoints2d, mask)  # (B, 1, J, 3)
        return target3d


def sidecar_path(onnx_path: str | Path) -> Path:
    return Path(str(onnx_path) + ".json")


def read_onnx_sidecar(onnx_path: str | Path, verify_sha256: bool = True) -> tuple[ModelConfig, dict[str, Any]]:
    """(ModelConfig, sidecar dict) for an exported file; refuses a missing sidecar or one written for other bytes."""
    onnx_path, meta_path = Path(onnx_path), sidecar_path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file not found: {onnx_path}")
    if not meta_path.is_file():
        raise FileNotFoundError(f"ONNX sidecar {meta_path} missing: re-export with `python -m mpm_model.deploy.export`")
    sidecar = json.loads(meta_path.read_text())
    if verify_sha256 and sidecar.get("onnx_sha256") != file_sha256(onnx_path):
        raise ValueError(f"{onnx_path} does not match the sha256 in {meta_path.name} (file replaced after export?)")
    return ModelConfig.from_dict(sidecar["config"]), sidecar


def _exporter_versions() -> dict[str, str]:
    import onnx
    import onnxscript

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxscript": onnxscript.__version__}


def _export_checked(model: nn.Module, cfg: ModelConfig, path: Path, batch_max: int, opset: int) -> None:
    """Dynamo export of head B to `path`, then the ONNX checker; OnnxExportError with the reason on failure."""
    import onnx

    wrapper = _TargetPose(model).eval()
    window, joints = cfg.window, cfg.num_joints
    example = (torch.zeros(2, window, joints, 2), torch.zeros(2, window, joints, dtype=torch.bool))
    batch = torch.export.Dim("batch", min=1, max=batch_max)
    for chatty in ("onnxscript", "onnx_ir"):  # their INFO logs list every rewrite; keep warnings only
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        torch.onnx.export(wrapper, example, str(path), dynamo=True, opset_version=opset, verbose=False,
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME], external_data=False,
                          dynamic_shapes={"keypoints2d": {0: batch}, "mask": {0: batch}}, optimize=True)
    except Exception as exc:  # the exporter raises many types; all mean "this model did not export"
        raise OnnxExportError(f"torch.onnx dynamo export of MPMLifter (window={window}, causal={cfg.causal}) "
                              f"failed: {type(exc).__name__}: {exc}") from exc
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise OnnxExportError(f"onnx.checker rejected the export of {path.name}: {exc}") from exc


def export_onnx(model: nn.Module, cfg: ModelConfig, onnx_path: str | Path, batch_max: int = 64,
                opset: int = 18) -> dict[str, Any]:
    """Export model (an MPMLifter for cfg) to onnx_path + a JSON sidecar; returns the sidecar dict. Both files are
    replaced atomically, the sidecar last; a failed export leaves the previous pair as it was."""
    import onnx

    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET} (single-op LayerNormalization), got {opset}")
    if batch_max < 2:
        raise ValueError(f"batch_max must be >= 2 so the batch dimension stays dynamic, got {batch_max}")
    onnx_path = Path(onnx_path)
    started = time.perf_counter()
    with atomic_path(onnx_path) as temp:  # readers see the previous export or this one complete, never half
        _export_checked(model, cfg, temp, batch_max, opset)
        graph = onnx.load(str(temp), load_external_data=False)
        onnx_sha256 = file_sha256(temp)
    actual_opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    window, joints = cfg.window, cfg.num_joints
    sidecar = {
        "config": cfg.to_dict(),
        "target_index": cfg.target_index,
        "inputs": [{"name": "keypoints2d", "shape": ["batch", window, joints, 2], "dtype": "float32"},
                   {"name": "mask", "shape": ["batch", window, joints], "dtype": "bool"}],
        "outputs": [{"name": OUTPUT_NAME, "shape": ["batch", 1, joints, 3], "dtype": "float32"}],
        "batch_max": batch_max,
        "opset": actual_opset,
        "exporter": {"dynamo": True, **_exporter_versions()},
        "onnx_sha256": onnx_sha256,
        "export_seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_text(sidecar_path(onnx_path), json.dumps(sidecar, indent=2))  # last: it vouches for the file
    return sidecar


@functools.lru_cache(maxsize=1)
def graph_code_hash() -> str:
    """sha256 over the sources that define the exported graph (read once per process)."""
    digest = hashlib.sha256()
    for name in GRAPH_SOURCES:
        digest.update((Path(__file__).resolve().parents[1] / name).read_bytes())
    return digest.hexdigest()


def onnx_cache_path(checkpoint: str | os.PathLike, engine_dir: str | Path | None, batch_max: int) -> Path:
    """`<engine_dir>/<stem>-<16 hex>-b<batch_max>.onnx`, the hex from the checkpoint file's sha256 and the graph
    code's: new weights at the same path, or new model/export code, get a new export; a warm start needs no model."""
    path = resolve(checkpoint)
    key = hashlib.sha256((file_sha256(path) + graph_code_hash()).encode()).hexdigest()[:16]
    return Path(engine_dir or default_engine_dir()) / f"{path.stem}-{key}-b{batch_max}.onnx"


def cached_onnx(checkpoint: str | os.PathLike, engine_dir: str | Path | None = None, batch_max: int = 64) -> Path:
    """The cached export of a lifter checkpoint; the model is built (and exported) only when none matches. Processes
    exporting the same checkpoint at once wait for the first and reuse its file (files.fill_once)."""
    path = resolve(checkpoint)
    onnx_path = onnx_cache_path(path, engine_dir, batch_max)
    config = read_config(path, kind="lifter")

    def problem() -> str | None:
        try:
            return None if read_onnx_sidecar(onnx_path)[0] == config else "its sidecar holds another ModelConfig"
        except (OSError, ValueError, KeyError) as exc:
            return str(exc)

    def export(why: str) -> None:
        LOG.info("exporting %s to %s (%s)", path, onnx_path, why)
        model, _ = load_lifter(path)
        export_onnx(model, config, onnx_path, batch_max=batch_max)

    if not fill_once(onnx_path, problem, export):
        LOG.info("reusing exported %s", onnx_path)
    return onnx_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.export", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint .pt path or the name of a shipped one")
    parser.add_argument("--onnx", type=Path, help="output .onnx (a .onnx.json sidecar is written); default: the "
                        "file create_backend caches for this checkpoint in --engine-dir, which the node then reuses")
    parser.add_argument("--engine-dir", type=Path, help="cache directory for the default --onnx "
                        "(default $ROS_HOME/mpm_ros/engines, ~/.ros/mpm_ros/engines: the node's)")
    parser.add_argument("--batch-max", type=int, default=64, help="largest batch the graph accepts (default 64)")
    parser.add_argument("--opset", type=int, default=18, help=f"ONNX opset, >= {MIN_OPSET} (default 18)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        model, cfg = load_lifter(args.checkpoint)
        onnx_path = args.onnx or onnx_cache_path(args.checkpoint, args.engine_dir, args.batch_max)
    except (OSError, ValueError) as exc:  # missing file, unknown shipped name, CheckpointError
        parser.exit(2, f"error: cannot load checkpoint {args.checkpoint!r}: {exc}\n")
    try:
        sidecar = export_onnx(model, cfg, onnx_path, batch_max=args.batch_max, opset=args.opset)
    except OnnxExportError as exc:
        parser.exit(1, f"error: {exc}\n")
    print(f"wrote {onnx_path} (opset {sidecar['opset']}, window {cfg.window}, batch 1..{args.batch_max}, "
          f"sha256 {sidecar['onnx_sha256'][:16]}) and {sidecar_path(onnx_path)}")


if __name__ == "__main__":
    main()
