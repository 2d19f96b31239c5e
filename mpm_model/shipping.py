"""Shipped weights: stored in half precision, computed in float32, checked against the float32 model they came from.

`ship_checkpoint` copies a float32 training checkpoint into mpm_model/weights/: floating tensors stored as float16
(default; bfloat16 on request; tensors under HALF_MIN_ELEMENTS stay float32), no optimizer state, zip entries deflated (what lets the repository travel: the four
float32 files were 88 MB). `checkpoint.read_checkpoint` loads them back to float32, so every backend computes as
before. At ship time the float32 source and the half-stored copy run on fixed windows of the bundled demo clip (cut
from the real test slice); those inputs and the float32 outputs go into the file (`reference`, ~100-200 KB) and the
copy is refused when any joint moves more than MAX_DEVIATION_MM. `reference_deviation_mm` repeats the check on a
shipped file; test/test_shipped_weights.py runs it on every one, so retrained weights carry their own check.

    python -m mpm_model.shipping ship out/real/t27/best.pt mpm_t27_causal
    python -m mpm_model.shipping check                  # every shipped file against its stored float32 outputs
    python -m mpm_model.shipping compare SOURCE.pt mpm_t27_causal --data ../shared/data/mocap_h36m17_test_slice.npz
"""
from __future__ import annotations

import argparse
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mpm_model.checkpoint import (STORAGE_DTYPES, WEIGHTS_DIR, CheckpointError, build_model, list_pretrained,
                                  load_checkpoint, read_checkpoint)
from mpm_model.config import ModelConfig
from mpm_model.files import atomic_path, file_sha256

HALF_STORAGES = ("float16", "bfloat16")
MAX_DEVIATION_MM = 0.5  # largest joint displacement the half-stored copy may add to the float32 outputs
# Tensors this small stay float32: output heads, first layer, norms, biases, tokens. Measured on the four shipped
# models: under 0.6 % of the weights, and the max reference deviation drops from 0.30-0.46 mm to 0.05-0.09 mm.
HALF_MIN_ELEMENTS = 32769
DEMO_CLIP = Path(__file__).resolve().parent / "assets" / "demo_clip.npz"
REFERENCE_WINDOWS = 3  # one clean, one with 30 % random joints masked, one with both wrists hidden throughout
WRISTS = (13, 16)  # H36M-17 left and right wrist
# Fixed studio-like view of each reference window: 1000 px image, Human3.6M focal length, 4.5 m back.
IMAGE_PX, FOCAL_PX, DISTANCE_M = 1000.0, 1145.0, 4.5
# Every shipped weight file is trained on the Bandai Namco Research Motion dataset (CC BY-NC 4.0).
WEIGHTS_LICENCE = ("CC BY-NC 4.0 (non-commercial): trained on Bandai Namco Research Motion (CC BY-NC 4.0), "
                   "HDM05 (CC BY-SA 3.0) and CMU mocap (mocap.cs.cmu.edu); see docs/MODEL_CARD.md")


def _camera_view(poses: np.ndarray, azimuth: float) -> np.ndarray:
    """World poses (T, J, 3), z up -> camera-frame poses (T, J, 3) seen from `azimuth`, DISTANCE_M beyond the
    window's root path (so every joint is well in front)."""
    from mpm_model.data.camera import look_at

    target = poses[:, 0].mean(axis=0)  # (3,)
    reach = float(np.linalg.norm(poses[:, 0, :2] - target[:2], axis=-1).max())
    position = target + np.array([np.cos(azimuth), np.sin(azimuth), 0.0]) * (DISTANCE_M + reach)
    return (poses - position) @ look_at(position, target).T


def reference_windows(kind: str, cfg: ModelConfig, clip: Path = DEMO_CLIP) -> tuple[dict[str, torch.Tensor], list]:
    """Inputs of the reference check -> ({"keypoints2d" (B,T,J,2) | "pose3d" (B,T,J,3), "mask" (B,T,J)}, windows):
    the middle window of each of the first REFERENCE_WINDOWS clip sequences long enough, as [name, start]."""
    from mpm_model.data.camera import normalize_screen
    from mpm_model.data.mocap import load_mocap, resample
    from mpm_model.masking import random_occlusion_mask

    sequences = [s for s in map(lambda s: resample(s, cfg.fps), load_mocap(clip)) if len(s) >= cfg.window]
    sequences = sequences[:REFERENCE_WINDOWS]
    if not sequences:
        raise ValueError(f"{clip}: no sequence of {cfg.window} frames for the reference windows")
    windows = [[s.name, (len(s) - cfg.window) // 2] for s in sequences]
    cams = np.stack([_camera_view(s.poses3d[start:start + cfg.window], 0.9 * i)
                     for i, (s, (_, start)) in enumerate(zip(sequences, windows))])  # (B, T, J, 3)
    mask = torch.zeros(cams.shape[:3], dtype=torch.bool)  # (B, T, J)
    if len(mask) > 1:
        mask[1] = random_occlusion_mask(1, cfg.window, cfg.num_joints, 0.3, torch.Generator().manual_seed(0))[0]
    if len(mask) > 2:
        mask[2][:, list(WRISTS)] = True
    if kind == "pretrain":
        pose3d = torch.from_numpy(cams - cams[:, :, :1]).float()
        return {"pose3d": pose3d, "mask": mask}, windows
    pixels = cams[..., :2] / cams[..., 2:] * FOCAL_PX + IMAGE_PX / 2
    return {"keypoints2d": torch.from_numpy(normalize_screen(pixels, IMAGE_PX, IMAGE_PX)).float(), "mask": mask}, windows


@torch.no_grad()
def reference_outputs(model: nn.Module, kind: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the model delivers: a lifter's reported frame (B, 1, J, 3), a pretrain model's completion (B, T, J, 3)."""
    model.eval()
    if kind == "pretrain":
        return model.complete(inputs["pose3d"], inputs["mask"])
    return model(inputs["keypoints2d"], inputs["mask"])[1]


def deviation_mm(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest joint displacement (mm) between two (..., J, 3) outputs in metres."""
    if got.shape != expected.shape:
        raise ValueError(f"outputs of shape {tuple(got.shape)} cannot be compared with {tuple(expected.shape)}")
    return 1000.0 * float((got - expected).norm(dim=-1).max())


def reference_deviation_mm(name_or_path: str | os.PathLike) -> float:
    """Max deviation (mm) of a shipped file's outputs, computed now, from the float32 outputs stored in it."""
    model, _, meta = load_checkpoint(name_or_path)
    reference = meta["reference"]
    if not reference:
        raise CheckpointError(f"{name_or_path}: no reference outputs (not written by ship_checkpoint)")
    return deviation_mm(reference_outputs(model, meta["kind"], reference["inputs"]), reference["outputs"])


def _write_deflated(payload: dict[str, Any], path: Path) -> None:
    """torch.save with every zip entry deflated (torch reads them; only memory-mapping needs stored entries)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


def ship_checkpoint(source: str | os.PathLike, name: str, licence: str = WEIGHTS_LICENCE,
                    weights_dir: str | os.PathLike | None = None, storage: str = "float16") -> Path:
    """Copy a float32 training checkpoint into the shipped weights as `name`.pt (see the module docstring):
    half-precision storage, optimizer state dropped, licence and provenance added to `extra`, the reference
    windows and float32 outputs added; refused (CheckpointError, nothing written) above MAX_DEVIATION_MM."""
    if storage not in HALF_STORAGES:
        raise ValueError(f"storage must be one of {HALF_STORAGES}, got {storage!r}")
    payload = read_checkpoint(source)
    if payload["storage"] != "float32":
        raise CheckpointError(f"{source}: stored as {payload['storage']}; ship from the float32 training checkpoint "
                              "(its outputs are the reference)")
    source_model, cfg, _ = load_checkpoint(source)
    kind = payload["kind"]
    inputs, windows = reference_windows(kind, cfg)
    expected = reference_outputs(source_model, kind, inputs)
    half = {k: v.to(STORAGE_DTYPES[storage]) if v.is_floating_point() and v.numel() >= HALF_MIN_ELEMENTS else v
            for k, v in payload["state_dict"].items()}
    copy = build_model(kind, cfg)
    copy.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    deviation = deviation_mm(reference_outputs(copy, kind, inputs), expected)
    if deviation > MAX_DEVIATION_MM:
        raise CheckpointError(f"{source}: {storage} storage moves a joint by {deviation:.3f} mm on the reference "
                              f"windows (limit {MAX_DEVIATION_MM} mm); not shipped")
    payload.update(optimizer=None, storage=storage, state_dict=half,
                   extra={**(payload.get("extra") or {}), "licence": licence, "shipped_from": str(source)},
                   reference={"inputs": inputs, "outputs": expected, "max_deviation_mm": deviation,
                              "clip": DEMO_CLIP.name, "clip_sha256": file_sha256(DEMO_CLIP),
                              "windows": windows})
    dest = Path(weights_dir or WEIGHTS_DIR) / f"{name}.pt"
    with atomic_path(dest) as temp:  # an exception below leaves nothing written
        _write_deflated(payload, temp)
        written = reference_deviation_mm(temp)  # the file itself, read back the way every loader reads it
        if written > MAX_DEVIATION_MM:
            raise CheckpointError(f"{temp}: read back, deviates {written:.3f} mm (limit {MAX_DEVIATION_MM} mm)")
    return dest


def compare(source: str | os.PathLike, shipped: str | os.PathLike, data: str, stride: int = 4) -> dict[str, float]:
    """Deviation of a shipped copy from its float32 source on every evaluation window of a mocap file (clean 2D,
    H36M-like cameras; pretrain: completion with 30 % of the joints masked) -> {"mean_mm", "max_mm", "frames"}."""
    from mpm_model.evaluation import EvalOptions, eval_windows, predict, select_sequences

    reference, cfg, meta = load_checkpoint(source)
    copy, copy_cfg, _ = load_checkpoint(shipped, kind=meta["kind"], expected_config=cfg)
    opts = EvalOptions(task="complete" if meta["kind"] == "pretrain" else "lift", occlusion=0.3, stride=stride)
    dataset = eval_windows(select_sequences(data, "all", opts.val_fraction, opts.seed), cfg, opts)
    device = torch.device("cpu")
    errors = np.linalg.norm(predict(reference, cfg, dataset, opts, device)["pred"]
                            - predict(copy, copy_cfg, dataset, opts, device)["pred"], axis=-1)  # (N, J)
    return {"mean_mm": 1000.0 * float(errors.mean()), "max_mm": 1000.0 * float(errors.max()), "frames": len(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.shipping", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ship = commands.add_parser("ship", help="store a float32 training checkpoint as shipped weights")
    ship.add_argument("source")
    ship.add_argument("name", help="shipped name (file stem in mpm_model/weights/)")
    ship.add_argument("--storage", choices=HALF_STORAGES, default="float16")
    ship.add_argument("--weights-dir", default=None, help="default: mpm_model/weights/")
    check = commands.add_parser("check", help="deviation of shipped files from their stored float32 outputs")
    check.add_argument("names", nargs="*", help="shipped names or paths (default: every shipped file)")
    comp = commands.add_parser("compare", help="deviation of a shipped copy from its float32 source on mocap data")
    comp.add_argument("source")
    comp.add_argument("shipped")
    comp.add_argument("--data", required=True, help="mocap npz (e.g. the test slice)")
    comp.add_argument("--stride", type=int, default=4, help="frames between evaluation windows")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.command == "ship":
        dest = ship_checkpoint(args.source, args.name, weights_dir=args.weights_dir, storage=args.storage)
        ref = read_checkpoint(dest)["reference"]
        print(f"{dest}: {dest.stat().st_size / 2**20:.2f} MiB, {args.storage}, reference deviation "
              f"{ref['max_deviation_mm']:.4f} mm")
        return 0
    if args.command == "check":
        worst = 0.0
        for name in args.names or list_pretrained():
            worst = max(worst, deviation := reference_deviation_mm(name))
            print(f"{name}: max deviation {deviation:.4f} mm from the stored float32 outputs")
        return int(worst > MAX_DEVIATION_MM)
    result = compare(args.source, args.shipped, args.data, args.stride)
    print(f"{args.shipped} vs {args.source} on {args.data}: mean {result['mean_mm']:.4f} mm, max "
          f"{result['max_mm']:.4f} mm over {result['frames']} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
