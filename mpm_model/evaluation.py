"""The public evaluation API: one condition (`EvalOptions`) -> its windows -> predictions -> metrics, overall and
per source. Below training and shipping alike (`python -m mpm_model.training.evaluate` is its CLI,
`shipping.compare` and tools/model_card.py call it), so no arrow climbs from shipping into training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mpm_model.config import ModelConfig
from mpm_model.data.occlusion import LASTING_KINDS
from mpm_model.masking import random_occlusion_mask
from mpm_model.streaming.lifting import infer_windows

TASK_KIND = {"lift": "lifter", "lift_occluded": "lifter", "complete": "pretrain"}


@dataclass(frozen=True)
class EvalOptions:
    """One evaluation condition (described in `python -m mpm_model.training.evaluate --help`)."""

    task: str = "lift"
    occlusion: float = 0.0
    camera: str = "h36m"
    coco: bool = False
    detector: bool = False
    present_fps: float | None = None
    lasting: str | None = None
    split: str = "all"
    val_fraction: float = 0.15
    seed: int = 0
    stride: int = 4
    run: int = 4
    batch_size: int = 256
    mirror: bool = False  # lift each window also mirrored and average: the node's mirrored lifting
    gap_fill: int = 0  # bridge hidden joints' gaps of at most this many frames first: the node's gap_fill_frames

    def __post_init__(self) -> None:
        if self.task not in TASK_KIND:
            raise ValueError(f"task must be one of {sorted(TASK_KIND)}, got {self.task!r}")
        if not 0.0 <= self.occlusion <= 1.0:
            raise ValueError(f"occlusion must be in [0, 1], got {self.occlusion}")
        if self.camera not in ("h36m", "robot"):
            raise ValueError(f"camera must be h36m or robot, got {self.camera!r}")
        if self.split not in ("all", "train", "val"):
            raise ValueError(f"split must be all, train or val, got {self.split!r}")
        if self.lasting is not None and self.lasting not in LASTING_KINDS:
            raise ValueError(f"lasting must be one of {LASTING_KINDS}, got {self.lasting!r}")
        if self.gap_fill < 0:
            raise ValueError(f"gap_fill must be >= 0, got {self.gap_fill}")
        if self.stride < 1 or self.run < 1:
            raise ValueError(f"stride and run must be >= 1, got {self.stride}, {self.run}")


def select_sequences(data: str, split: str, val_fraction: float, seed: int) -> list:
    from mpm_model.data.mocap import load_mocap, split_by_subject

    sequences = load_mocap(data)
    if split != "all":
        train, val = split_by_subject(sequences, val_fraction=val_fraction, seed=seed)
        sequences = train if split == "train" else val
    if not sequences:
        raise ValueError(f"no sequences in split {split!r} of {data}")
    return sequences


def eval_windows(sequences: list, cfg: ModelConfig, opts: EvalOptions) -> Dataset:
    """The windows of one condition (LiftingWindows, or Pose3DWindows for complete), in a fixed order."""
    from mpm_model.data.detector import DetectorModel
    from mpm_model.data.windows import LiftingWindows, Pose3DWindows, ViewOptions

    view = ViewOptions(robot_share=1.0 if opts.camera == "robot" else 0.0, coco_share=1.0 if opts.coco else 0.0,
                       detector=DetectorModel() if opts.detector else None,
                       occlusion=opts.occlusion if opts.task == "lift_occluded" else 0.0,
                       present_fps=opts.present_fps, run=opts.run, lasting=opts.lasting)
    common = dict(window=cfg.window, stride=opts.stride, cameras_per_seq=1, seed=opts.seed, augment=False,
                  target_index=cfg.target_index, fps=cfg.fps, view=view)
    return Pose3DWindows(sequences, **common) if opts.task == "complete" else LiftingWindows(sequences, **common)


@torch.no_grad()
def predict(model: torch.nn.Module, cfg: ModelConfig, dataset: Dataset, opts: EvalOptions,
            device: torch.device) -> dict[str, np.ndarray]:
    """Lifter: reported frames pred/gt (N, J, 3). Complete: all frames (N*T, J, 3) and their masks."""
    generator = torch.Generator().manual_seed(opts.seed)
    pred, gt, masks = [], [], []
    loader = DataLoader(dataset, batch_size=opts.batch_size, shuffle=False)
    for batch in tqdm(loader, desc=f"evaluate {opts.task}", leave=False, dynamic_ncols=True):
        pose3d = batch["pose3d"].to(device)  # (B, T, J, 3)
        if opts.task == "complete":
            b, t, j, _ = pose3d.shape
            mask = random_occlusion_mask(b, t, j, opts.occlusion, generator).to(device)
            pred.append(model.complete(pose3d, mask).flatten(0, 1).cpu().numpy())
            gt.append(pose3d.flatten(0, 1).cpu().numpy())
            masks.append(mask.flatten(0, 1).cpu().numpy())
        else:
            keypoints, mask = batch["keypoints2d"].to(device), batch["mask"].to(device)
            target = (infer_windows(_Infers(model), keypoints.cpu().numpy(), mask.cpu().numpy(), opts.gap_fill,
                                    opts.mirror) if opts.mirror or opts.gap_fill
                      else model(keypoints, mask)[1].cpu().numpy())  # (B, 1, J, 3): as the node lifts
            pred.append(target[:, 0])
            gt.append(pose3d[:, cfg.target_index].cpu().numpy())
    if not pred:
        raise ValueError("no evaluation windows: sequences shorter than the window?")
    out = {"pred": np.concatenate(pred), "gt": np.concatenate(gt)}
    if masks:
        out["mask"] = np.concatenate(masks)
    return out


class _Infers:
    """A lifter module as mpm_model.streaming.lifting.infer_windows calls a backend (numpy in and out)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.device = model, next(model.parameters()).device

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(keypoints).to(self.device), torch.from_numpy(mask).to(self.device))[1] \
            .cpu().numpy()


def compute_metrics(pred: np.ndarray, gt: np.ndarray, runs: np.ndarray | None) -> dict[str, float]:
    """Frame metrics of (N, J, 3) poses; velocity error over consecutive frames of each run id in `runs`."""
    from mpm_model import metrics

    result = {
        "mpjpe_mm": 1000 * metrics.mpjpe(pred, gt),
        "p_mpjpe_mm": 1000 * metrics.p_mpjpe(pred, gt),
        "n_mpjpe_mm": 1000 * metrics.n_mpjpe(pred, gt),
        "pck150": metrics.pck(pred, gt, threshold=0.15),
        "auc": metrics.auc(pred, gt),
        "frames": int(len(pred)),
    }
    if runs is not None:
        same = runs[1:] == runs[:-1]  # consecutive items of one run
        if same.any():
            vel_pred, vel_gt = np.diff(pred, axis=0)[same], np.diff(gt, axis=0)[same]
            result["velocity_error_mm"] = 1000 * float(np.linalg.norm(vel_pred - vel_gt, axis=-1).mean())
    return {k: float(v) if k != "frames" else v for k, v in result.items()}


def evaluate(model: torch.nn.Module, cfg: ModelConfig, sequences: list, opts: EvalOptions,
             device: torch.device | str = "cpu") -> dict[str, Any]:
    """Metrics overall and per source for one condition -> {"metrics": ..., "per_source": {...}, "windows": n}."""
    device = torch.device(device)
    dataset = eval_windows(sequences, cfg, opts)
    out = predict(model, cfg, dataset, opts, device)
    sources = dataset.item_sources()
    runs = dataset.items[:, 0] * 10**7 + dataset.items[:, 2]  # (sequence, anchor) identifies a run
    if opts.task == "complete":
        t = cfg.window
        sources, runs = np.repeat(sources, t), None
        masked = out["mask"]

        def metrics_of(select: np.ndarray) -> dict[str, float]:
            result = compute_metrics(out["pred"][select], out["gt"][select], None)
            errors = np.linalg.norm(out["pred"][select] - out["gt"][select], axis=-1)  # (n, J)
            if masked[select].any():
                result["masked_mpjpe_mm"] = 1000 * float(errors[masked[select]].mean())
            return result
    else:
        def metrics_of(select: np.ndarray) -> dict[str, float]:
            return compute_metrics(out["pred"][select], out["gt"][select], runs[select])
    every = np.ones(len(sources), dtype=bool)
    return {"metrics": metrics_of(every), "windows": len(dataset),
            "per_source": {str(s): metrics_of(sources == s) for s in sorted(set(sources.tolist()))}}
