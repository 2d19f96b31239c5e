"""Latency/throughput benchmark of the deployment backends over window lengths and batch sizes.

Backends are built by create_backend with the node's options (threads, spinning, export cache), so a bare
`infer()` here is the call the node makes. Without --checkpoint a randomly initialised default-size lifter is
used: latency does not depend on the weights.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpm_model.checkpoint import read_config
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends.base import Backend
from mpm_model.untrained import random_checkpoint

LOG = logging.getLogger(__name__)
BENCH_BACKENDS = ("torch", "onnxruntime", "tensorrt")


def uptime() -> str:
    """`uptime` output (load averages) for benchmark tables, or os.getloadavg() where there is no `uptime`."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(threads: int, spinning: bool) -> dict[str, Any]:
    from mpm_model.deploy.backends.gpu_probe import probe_gpu

    info: dict[str, Any] = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": threads, "spinning": spinning,
                            "python": platform.python_version(), "torch": torch.__version__}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    gpu = probe_gpu()
    info["gpu"] = gpu.name if gpu.available else None
    info["tensorrt"] = gpu.tensorrt_version or None
    if hasattr(os, "getloadavg"):  # other processes on the CPU skew latency; record how busy it was
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return info


def time_backend(backend: Backend, batch: int, runs: int, warmup: int, seed: int = 0) -> dict[str, float]:
    """Per-call latency percentiles (ms) and throughput (windows/s) for one batch size."""
    rng = np.random.default_rng(seed)
    cfg = backend.config
    keypoints2d = rng.uniform(-1, 1, (batch, cfg.window, cfg.num_joints, 2)).astype(np.float32)  # (B, T, J, 2)
    mask = rng.random((batch, cfg.window, cfg.num_joints)) < 0.1  # (B, T, J)
    for _ in range(warmup):
        backend.infer(keypoints2d, mask)
    latencies = np.empty(runs)
    for run in range(runs):
        started = time.perf_counter()
        backend.infer(keypoints2d, mask)
        latencies[run] = time.perf_counter() - started
    return {"p50_ms": float(np.percentile(latencies, 50) * 1e3), "p99_ms": float(np.percentile(latencies, 99) * 1e3),
            "mean_ms": float(latencies.mean() * 1e3), "windows_per_s": float(batch * runs / latencies.sum())}


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """What to time and how; threads/spinning/engine_dir go to create_backend exactly as the node passes them."""

    backends: tuple[str, ...] = ("torch", "onnxruntime")
    windows: tuple[int, ...] = (27, 81, 243)
    batches: tuple[int, ...] = (1, 4, 8)
    runs: int = 50
    warmup: int = 5
    threads: int = 0
    spinning: bool = False
    checkpoint: str | None = None
    engine_dir: Path | None = None

    def __post_init__(self) -> None:
        unknown = [n for n in self.backends if n not in BENCH_BACKENDS]
        if not self.backends or unknown:
            raise ValueError(f"backends must be from {BENCH_BACKENDS}, got {list(self.backends)}")
        if not self.windows or not self.batches or min(self.windows) < 1 or min(self.batches) < 1:
            raise ValueError(f"need positive windows and batches, got {self.windows} and {self.batches}")
        if self.runs < 1 or self.warmup < 0 or self.threads < 0:
            raise ValueError(f"need runs >= 1, warmup >= 0, threads >= 0, got {self.runs}, {self.warmup}, "
                             f"{self.threads}")


def _checkpoints(opts: BenchOptions, workdir: Path) -> list[tuple[str | Path, ModelConfig]]:
    """--checkpoint as given, else a seeded random-init default-size lifter per window saved in workdir."""
    if opts.checkpoint is not None:
        cfg = read_config(opts.checkpoint, kind="lifter")
        if list(opts.windows) != [cfg.window]:
            LOG.warning("checkpoint window is %d; ignoring --windows %s", cfg.window, list(opts.windows))
        return [(opts.checkpoint, cfg)]
    configs = [ModelConfig().replace(window=w) for w in opts.windows]
    return [(random_checkpoint(workdir / f"random_t{cfg.window}.pt", cfg), cfg) for cfg in configs]


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Time every backend x window x batch through create_backend with the node's defaults (export cache, batch
    limits, ONNX Runtime session options). A random-init model exports to a temporary cache, a --checkpoint to
    opts.engine_dir (default: the node's), so its ONNX/engine is the very file the node runs; batches past a
    backend's max_batch run in chunks, as in the node."""
    from mpm_model.deploy.backends import create_backend

    if opts.threads:
        torch.set_num_threads(opts.threads)
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    results = []
    with tempfile.TemporaryDirectory(prefix="mpm_bench_") as tmp:
        models = _checkpoints(opts, Path(tmp))
        engine_dir = opts.engine_dir if opts.checkpoint is not None else Path(tmp) / "engines"
        for checkpoint, cfg in models:
            for name in opts.backends:
                backend = create_backend(name, checkpoint=checkpoint, engine_dir=engine_dir, threads=opts.threads,
                                         spinning=opts.spinning)
                for batch in opts.batches:
                    row = {"backend": name, "device": backend.device, "window": cfg.window, "batch": batch,
                           **time_backend(backend, batch, opts.runs, opts.warmup)}
                    LOG.info("%s", row)
                    results.append(row)
    info = {**device_info(opts.threads, opts.spinning), "load_avg_1m_before": load_before}
    return {"device_info": info, "runs": opts.runs, "warmup": opts.warmup,
            "model": {"checkpoint": opts.checkpoint, "random_init": opts.checkpoint is None,
                      "configs": [cfg.to_dict() for _, cfg in models]},
            "results": results}


def format_table(results: list[dict[str, Any]]) -> str:
    header = "| backend | device | T | batch | p50 ms | p99 ms | windows/s |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['backend']} | {r['device']} | {r['window']} | {r['batch']} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['windows_per_s']:.0f} |" for r in results]
    return "\n".join(lines)


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> None:
    d = BenchOptions()
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_names, default=list(d.backends),
                        help=f"comma-separated, from {','.join(BENCH_BACKENDS)} (default {','.join(d.backends)})")
    parser.add_argument("--windows", type=_int_list, default=list(d.windows),
                        help=f"window lengths (default {','.join(map(str, d.windows))})")
    parser.add_argument("--batches", type=_int_list, default=list(d.batches),
                        help=f"batch sizes (default {','.join(map(str, d.batches))})")
    parser.add_argument("--runs", type=int, default=d.runs, help=f"timed calls per cell (default {d.runs})")
    parser.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed calls per cell (default {d.warmup})")
    parser.add_argument("--threads", type=int, default=d.threads,
                        help="ONNX Runtime intra-op threads, also torch's when > 0 (default 0 = the runtimes' own "
                             "default, as the node)")
    parser.add_argument("--spinning", action="store_true",
                        help="let ONNX Runtime's thread pools spin between calls (default off, as the node)")
    parser.add_argument("--checkpoint", help="checkpoint path or shipped name (default: random-init default size)")
    parser.add_argument("--engine-dir", type=Path, help="ONNX/engine cache for --checkpoint (default "
                        "$ROS_HOME/mpm_ros/engines, ~/.ros/mpm_ros/engines: the node's)")
    parser.add_argument("--json-out", type=Path, help="write results + device info as JSON here")
    args = parser.parse_args(argv)
    try:
        opts = BenchOptions(backends=tuple(args.backends), windows=tuple(args.windows), batches=tuple(args.batches),
                            runs=args.runs, warmup=args.warmup, threads=args.threads, spinning=args.spinning,
                            checkpoint=args.checkpoint, engine_dir=args.engine_dir)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = run_bench(opts)
    info = report["device_info"]
    print(f"CPU: {info['cpu']} ({opts.threads or 'default'} threads, spinning {'on' if opts.spinning else 'off'}, "
          f"load {info.get('load_avg_1m_before')} -> {info.get('load_avg_1m')}), torch {info['torch']}, "
          f"onnxruntime {info['onnxruntime']}, GPU: {info['gpu'] or 'none'}; "
          f"{'random-init' if opts.checkpoint is None else opts.checkpoint} model, "
          f"{opts.runs} runs after {opts.warmup} warm-up")
    print(format_table(report["results"]))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
