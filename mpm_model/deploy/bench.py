"""Latency/throughput benchmark of the deployment backends over window lengths and batch sizes.

Without --checkpoint a randomly initialised default-size lifter is used: latency does not depend on the weights.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpm_model.deploy.backends.base import Backend
from mpm_model.config import ModelConfig

LOG = logging.getLogger(__name__)
BENCH_BACKENDS = ("torch", "onnxruntime", "tensorrt")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(threads: int) -> dict[str, Any]:
    from mpm_model.deploy.backends.gpu_probe import probe_gpu

    info: dict[str, Any] = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": threads,
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


def make_backend(name: str, model: torch.nn.Module, cfg: ModelConfig, workdir: Path, threads: int,
                 max_batch: int) -> Backend:
    """torch runs the module directly; onnxruntime/tensorrt run a fresh export of it."""
    if name == "torch":
        from mpm_model.deploy.backends.torch_backend import TorchBackend

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return TorchBackend(model, cfg, device=device, max_batch=max_batch)
    from mpm_model.deploy.export import export_onnx

    onnx_path = workdir / f"bench_t{cfg.window}_b{max_batch}.onnx"
    if not onnx_path.is_file():
        export_onnx(model, cfg, onnx_path, batch_max=max(2, max_batch))
    if name == "onnxruntime":
        from mpm_model.deploy.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(onnx_path, device="cpu", threads=threads, max_batch=max_batch)
    from mpm_model.deploy.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend.from_onnx(onnx_path, engine_dir=workdir / "trt_engines", max_batch=max_batch,
                                     opt_batch=1)


def _models(windows: list[int], checkpoint: str | None) -> list[tuple[torch.nn.Module, ModelConfig]]:
    if checkpoint is not None:
        from mpm_model.deploy.backends.torch_backend import load_lifter

        model, cfg = load_lifter(checkpoint)
        if windows != [cfg.window]:
            LOG.warning("checkpoint window is %d; ignoring --windows %s", cfg.window, windows)
        return [(model, cfg)]
    from mpm_model.model import MPMLifter

    torch.manual_seed(0)
    return [(MPMLifter(cfg).eval(), cfg) for cfg in (ModelConfig().replace(window=w) for w in windows)]


def run_bench(backends: list[str], windows: list[int], batches: list[int], runs: int, warmup: int, threads: int,
              checkpoint: str | None = None) -> dict[str, Any]:
    torch.set_num_threads(threads)
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    models = _models(windows, checkpoint)
    results = []
    with tempfile.TemporaryDirectory(prefix="mpm_bench_") as tmp:
        for model, cfg in models:
            for name in backends:
                backend = make_backend(name, model, cfg, Path(tmp), threads, max(batches))
                for batch in batches:
                    row = {"backend": name, "device": backend.device, "window": cfg.window, "batch": batch,
                           **time_backend(backend, batch, runs, warmup)}
                    LOG.info("%s", row)
                    results.append(row)
    info = {**device_info(threads), "load_avg_1m_before": load_before}
    return {"device_info": info, "runs": runs, "warmup": warmup,
            "model": {"checkpoint": checkpoint, "random_init": checkpoint is None,
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
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _backend_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCH_BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"backends must be from {BENCH_BACKENDS}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=_backend_list, default=["torch", "onnxruntime"],
                        help=f"comma-separated, from {','.join(BENCH_BACKENDS)} (default torch,onnxruntime)")
    parser.add_argument("--windows", type=_int_list, default=[27, 81, 243], help="window lengths (default 27,81,243)")
    parser.add_argument("--batches", type=_int_list, default=[1, 4, 8], help="batch sizes (default 1,4,8)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per cell (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per cell (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime (default 2)")
    parser.add_argument("--checkpoint", help="checkpoint path or shipped name (default: random-init default size)")
    parser.add_argument("--json-out", type=Path, help="write results + device info as JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("need --runs >= 1, --warmup >= 0, --threads >= 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = run_bench(args.backends, args.windows, args.batches, args.runs, args.warmup, args.threads,
                       args.checkpoint)
    info = report["device_info"]
    print(f"CPU: {info['cpu']} ({args.threads} threads, load {info.get('load_avg_1m_before')} -> "
          f"{info.get('load_avg_1m')}), torch {info['torch']}, onnxruntime {info['onnxruntime']}, "
          f"GPU: {info['gpu'] or 'none'}; {'random-init' if args.checkpoint is None else args.checkpoint} model, "
          f"{args.runs} runs after {args.warmup} warm-up")
    print(format_table(report["results"]))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
