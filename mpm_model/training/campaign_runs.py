"""The runs of a training campaign (`mpm_model.training.campaign`): the device settings, and one run's
training on batched views (`mpm_model.data.views`) with checkpoints that fit the output limits."""
from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mpm_model.checkpoint import CheckpointError, build_model, load_checkpoint, save_checkpoint
from mpm_model.shipping import HALF_STORAGES, ship_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.data.draws import TorchDraws, generator
from mpm_model.data.views import BatchedViews, MotionBank
from mpm_model.data.windows import ViewOptions, split_unpaired
from mpm_model.training.lag import LagLoss, LagMeter
from mpm_model.training.plans import RunSpec
from mpm_model.training.steps import WEIGHT_DECAY, OptimizerSteps, Pace, train_loop
from mpm_model.training.warm import widen_lifter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceSettings:
    device: torch.device
    autocast: torch.dtype | None
    batch_size: int
    lr: float

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return f"{name}, {'bf16 autocast' if self.autocast else 'fp32'}, batch {self.batch_size}, lr {self.lr:g}"


def device_settings(device: str, precision: str, batch_size: int | None, lr: float | None) -> DeviceSettings:
    """Batch 1024 on CUDA (64 on CPU), LR 1e-3 · sqrt(batch / 64) capped at 4e-3, bf16 autocast on CUDA."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       "cpu" if device == "auto" else device)
    batch = batch_size or (1024 if dev.type == "cuda" else 64)
    if batch < 1:
        raise SystemExit(f"--batch-size must be >= 1, got {batch}")
    use_bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
    if use_bf16 and dev.type == "cpu" and not cpu_has_native_bf16(_cpuinfo()):
        raise SystemExit("--precision bf16: this CPU has no AVX-512 BF16 / AMX (bf16 autocast ran a lifter step 7-15x "
                         "slower than fp32 on an AVX2 AMD EPYC); use --precision fp32")
    return DeviceSettings(dev, torch.bfloat16 if use_bf16 else None, batch,
                          lr or min(4e-3, 1e-3 * math.sqrt(batch / 64)))


def cpu_has_native_bf16(cpuinfo: str | None) -> bool:
    """Whether /proc/cpuinfo's flags name a bf16 matmul unit (AVX-512 BF16 or AMX); True when unknown (None)."""
    if cpuinfo is None:
        return True
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _cpuinfo() -> str | None:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Share:
    """One call's share of a run: its minutes, or its steps (`steps_cap`: the ablation's twin; `max_steps`)."""

    minutes: float
    steps_cap: int | None
    max_steps: int | None
    step0: int  # where this call started
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return (time.monotonic() - self.started) / 60

    def done(self, step: int) -> bool:
        return self.elapsed() >= self.minutes or (self.steps_cap is not None and step >= self.steps_cap) or \
            (self.max_steps is not None and step - self.step0 >= self.max_steps)

    def total_steps(self, step: int) -> int:
        """The steps of the LR schedule: the cap, else those the share will reach at the pace so far."""
        if self.steps_cap or self.max_steps:
            return self.steps_cap or self.step0 + self.max_steps
        if step > self.step0:
            return step + int((self.minutes - self.elapsed()) * (step - self.step0) / max(self.elapsed(), 1e-9))
        return 10**6


class Trainer:
    """Data on the device (motion banks of the train split, per-source validation banks) and one run at a time;
    every run trains on `view` (the recipe, `training_view()`, with the call's `--exact-share`), a lifter with its
    spec's lag term (`lag.LagLoss`: `RunSpec.lag_weight`); the history logs its batch lag δ̂ per checkpoint."""

    def __init__(self, data: str, settings: DeviceSettings, seed: int, val_windows: int, val_every_min: float,
                 state_dir: Path | None, view: ViewOptions) -> None:
        from mpm_model.data.mocap import dataset_hash, load_mocap, split_by_subject

        self.settings, self.seed, self.val_windows, self.val_every = settings, seed, val_windows, val_every_min
        self.state_dir, self.view, self.lag_meter = state_dir, view, LagMeter()
        train, val = split_by_subject(load_mocap(data), val_fraction=0.15, seed=seed)
        self.train, self.val, self.data_hash = train, val, dataset_hash(data)
        self._banks: dict[tuple[str, float], MotionBank] = {}

    def bank(self, part: str, fps: float) -> MotionBank:
        """Motion bank of "train", "train2d", "train3d" (the unpaired halves) or "val:SOURCE" at `fps`."""
        key = (part, fps)
        if key not in self._banks:
            if part.startswith("val:"):
                seqs = [s for s in self.val if s.source == part[4:]]
            elif part == "train":
                seqs = self.train
            else:
                seqs = split_unpaired(self.train, self.seed)[0 if part == "train2d" else 1]
            self._banks[key] = MotionBank.build(seqs, fps, self.settings.device)
        return self._banks[key]

    def _model(self, spec: RunSpec, out: Path, resume: Path | None
               ) -> tuple[nn.Module, ModelConfig, dict, dict | None]:
        """The run's model: resumed, continued from shipped weights, from the campaign's pretraining, or fresh; with
        the optimizer's state when resumed from a full checkpoint (--state; the compact ones in OUT have none)."""
        info: dict[str, Any] = {"init": spec.init}
        optimizer = None
        if resume is not None:
            model, cfg, meta = load_checkpoint(resume, kind=spec.kind)
            info["resumed_from"], optimizer = str(resume), meta["optimizer"]
        elif spec.init.startswith("shipped:"):
            model, cfg, meta = load_checkpoint(spec.init.split(":", 1)[1], kind=spec.kind)
            info["windows_inherited"] = int((meta["extra"] or {}).get("windows", 0))
        elif spec.init.startswith("from:"):
            name = spec.init.split(":", 1)[1]
            run_file = out / f"{name}.pt"  # a run of this campaign, else a shipped name or a path
            source, source_cfg, meta = load_checkpoint(run_file if run_file.is_file() else name, kind="lifter")
            cfg = spec.model
            model = build_model(spec.kind, cfg)
            info["transfer"] = {k: len(v) for k, v in widen_lifter(source, source_cfg, model, cfg, spec.embed).items()}
            info["windows_inherited"] = int((meta["extra"] or {}).get("windows", 0))
        else:
            cfg = spec.model
            model = build_model(spec.kind, cfg)
            if spec.init.startswith("pretrain:"):
                pretrained, _, _ = load_checkpoint(out / f"{spec.init.split(':', 1)[1]}.pt", kind="pretrain")
                info["transfer"] = model.load_pretrained_encoder(pretrained.state_dict())
        fresh = build_model(spec.kind, cfg, dropout=spec.dropout)  # the training dropout, same weights
        fresh.load_state_dict(model.state_dict())
        return fresh.to(self.settings.device), cfg, info, optimizer

    def _views(self, spec: RunSpec, cfg: ModelConfig) -> Callable[[TorchDraws], Any]:
        view = self.view
        if spec.kind == "lifter":
            return BatchedViews(self.bank("train", cfg.fps), cfg.window, cfg.target_index, view, cfg.fps)
        views2d = BatchedViews(self.bank("train2d", cfg.fps), cfg.window, cfg.target_index, view, cfg.fps)
        views3d = BatchedViews(self.bank("train3d", cfg.fps), cfg.window, cfg.target_index, view, cfg.fps)
        return lambda draws: (views2d(draws), views3d.pose3d(draws))

    def _loss(self, spec: RunSpec, model: nn.Module, batch: Any) -> torch.Tensor:
        enabled = self.settings.autocast is not None
        with torch.autocast(self.settings.device.type, dtype=torch.bfloat16, enabled=enabled):
            if spec.kind == "lifter":
                loss, lag = LagLoss(lag_weight=spec.lag_weight).loss(model, batch["keypoints2d"], batch["mask"],
                                                                     batch["pose3d"])
                if model.training:  # validation (eval mode) is not the training batches' lag
                    self.lag_meter.add(lag)
            else:
                views2d, pose3d = batch
                loss = model(views2d["keypoints2d"], pose3d, views2d["mask"], vary_masks=model.training).loss
        return loss.float()

    @torch.no_grad()
    def validate(self, spec: RunSpec, model: nn.Module, cfg: ModelConfig) -> dict[str, float]:
        """Mean loss per source on fixed clean windows of the validation subjects (H36M-like and robot cameras)."""
        model.eval()
        result = {}
        for source in sorted({s.source for s in self.val}):
            views = BatchedViews(self.bank(f"val:{source}", cfg.fps), cfg.window, cfg.target_index,
                                 ViewOptions(robot_share=0.5), cfg.fps, augment=False)
            gen, total, count = generator(self.settings.device, self.seed, 1), 0.0, 0
            while count < self.val_windows:
                size = min(self.settings.batch_size, self.val_windows - count)
                draws = TorchDraws(gen, size)
                batch = views(draws) if spec.kind == "lifter" else (views(draws), views.pose3d(draws))
                total += float(self._loss(spec, model, batch)) * size
                count += size
            result[source] = total / count
        model.train()
        return result

    def _save(self, spec: RunSpec, model: nn.Module, cfg: ModelConfig, record: dict, out: Path,
              optimizer: torch.optim.Optimizer) -> None:
        exact = self.view.detector.exact_share if self.view.detector else 1.0
        args = {"campaign_run": spec.record(), "device": self.settings.describe(), "exact_share": exact}
        extra = {"history": record["history"], "step": record["step"], "minutes": record["minutes"],
                 "windows": record["windows"]}
        if spec.keep:
            with tempfile.TemporaryDirectory() as tmp:
                full = save_checkpoint(Path(tmp) / f"{spec.name}.pt", model, cfg, spec.kind, args, self.data_hash,
                                       None, None, extra)
                record["storage"] = "float32"
                for storage in HALF_STORAGES:
                    try:
                        ship_checkpoint(full, spec.name, weights_dir=out, storage=storage)
                        record["storage"] = storage
                        break
                    except CheckpointError as exc:  # half precision moves this model's outputs too far
                        log.warning("%s: %s", spec.name, exc)
                if record["storage"] == "float32":
                    shutil.copyfile(full, out / f"{spec.name}.pt")
        if self.state_dir is not None:
            save_checkpoint(self.state_dir / f"{spec.name}.pt", model, cfg, spec.kind, args, self.data_hash,
                            optimizer, None, extra)

    def run(self, spec: RunSpec, record: dict, out: Path, minutes: float, steps_cap: int | None,
            max_steps: int | None, on_progress: Callable[[], None]) -> None:
        """Train `spec` for `minutes` (or to `steps_cap` / `max_steps`), updating `record` (campaign.json)."""
        settings = self.settings
        full_state = self.state_dir / f"{spec.name}.pt" if self.state_dir else None
        step0 = int(record.get("step", 0))
        resume = None
        if step0 > 0:
            resume = full_state if full_state and full_state.is_file() else out / f"{spec.name}.pt"
            resume = resume if resume.is_file() else None
        model, cfg, info, optimizer = self._model(spec, out, resume)
        record.setdefault("init", info)
        batch = max(1, settings.batch_size // spec.batch_divisor)
        lr = settings.lr * (0.5 if spec.init.startswith(("shipped:", "from:")) else 1.0)
        if resume is None:  # windows seen in all: the init's count (0 when it has none) and every step from here
            step0 = 0
            record.update(step=0, minutes=0.0, history=[], windows=info.get("windows_inherited", 0))
        views = self._views(spec, cfg)
        steps = OptimizerSteps(model, lr, WEIGHT_DECAY, spec.name)
        if resume is not None:  # without the optimizer's state (a compact checkpoint): a short re-warm
            steps.resume(optimizer, step0, float(record.get("minutes", 0.0)))
        budget_total = steps.minutes_before + minutes  # the schedule anneals by the end of this call's share
        gen = generator(settings.device, self.seed, zlib.crc32(spec.name.encode()), step0)
        record.update(batch=batch, lr=lr, device=settings.describe(), config=cfg.to_dict())
        share, last_val = Share(minutes, steps_cap, max_steps, step0), time.monotonic()

        def counted(pace: Pace) -> None:
            record["windows"] += batch
            record["train_loss"] = pace.last_loss

        def checkpoint(pace: Pace) -> None:
            nonlocal last_val
            self._checkpoint(spec, model, cfg, record, out, steps, batch, pace)
            on_progress()
            last_val = time.monotonic()

        draws = (views(TorchDraws(gen, batch)) for _ in itertools.count())
        pace = train_loop(steps, draws, lambda data: self._loss(spec, model, data),
                          lambda: share.total_steps(steps.step), budget_total, lambda: share.done(steps.step),
                          lambda: (time.monotonic() - last_val) / 60 >= self.val_every, checkpoint, counted,
                          lambda: _sync(settings.device))
        if not record["history"] or record["history"][-1]["step"] != steps.step:  # else just checkpointed
            self._checkpoint(spec, model, cfg, record, out, steps, batch, pace)
        on_progress()

    def _checkpoint(self, spec: RunSpec, model: nn.Module, cfg: ModelConfig, record: dict, out: Path,
                    steps: OptimizerSteps, batch: int, pace: Pace) -> None:
        val = self.validate(spec, model, cfg)
        done, minutes, data_s, model_s = pace.steps, steps.minutes, pace.data_s, pace.model_s
        record.update(step=steps.step, minutes=minutes)
        record["history"].append({"step": steps.step, "minutes": minutes, "train_loss": record.get("train_loss"),
                                  "train_lag_frames": self.lag_meter.read(), "val_loss": sum(val.values()) / len(val),
                                  "val_per_source": val})
        record["throughput"] = {"steps_this_call": done, "windows_per_s": done * batch / max(data_s + model_s, 1e-9),
                                "data_windows_per_s": done * batch / max(data_s, 1e-9),
                                "model_windows_per_s": done * batch / max(model_s, 1e-9)}
        self._save(spec, model, cfg, record, out, steps.optimizer)
        log.info("%s: step %d, %.1f min, %d windows seen in all, val %.4f, lag %s frames, %s", spec.name, steps.step,
                 record["minutes"], record["windows"], record["history"][-1]["val_loss"],
                 record["history"][-1]["train_lag_frames"],
                 json.dumps(record["throughput"]))
