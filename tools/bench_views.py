"""Training throughput (windows/s): the batched view pipeline alone, the model step alone (forward, backward,
AdamW), and both; beside the per-window datasets (LiftingWindows.__getitem__), at each thread count and
precision. Prints a table and JSON (with the load average: timings on a shared machine are noisy).

    .venv/bin/python tools/bench_views.py --data ../shared/data/mocap_h36m17_test_slice.npz --threads 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch


def _rate(fn, windows: int, seconds: float) -> float:
    fn()  # warm-up
    count, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        fn()
        count += windows
    return count / (time.monotonic() - started)


def measure(data: str, window: int, batch: int, threads: int, device: str, seconds: float) -> dict:
    from mpm_model.checkpoint import build_model
    from mpm_model.config import ModelConfig
    from mpm_model.data.draws import TorchDraws, generator
    from mpm_model.data.mocap import load_mocap
    from mpm_model.data.views import BatchedViews, MotionBank
    from mpm_model.data.windows import LiftingWindows, training_view

    torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = ModelConfig(window=window, causal=True)
    seqs = load_mocap(data)
    views = BatchedViews(MotionBank.build(seqs, cfg.fps, dev), window, cfg.target_index, training_view(), cfg.fps)
    gen = generator(dev, 0)
    per_window = LiftingWindows(seqs, window, target_index=cfg.target_index, view=training_view())
    index = iter(range(10**9))
    model = build_model("lifter", cfg, dropout=0.1).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fixed = views(TorchDraws(gen, batch))
    row = {"threads": threads, "device": device, "window": window, "batch": batch,
           "per_window_pipeline": _rate(lambda: per_window[next(index) % len(per_window)], 1, seconds),
           "batched_pipeline": _rate(lambda: views(TorchDraws(gen, batch)), batch, seconds)}
    for precision in ("fp32", "bf16"):
        def step(data_from_pipeline: bool) -> None:
            batch_data = views(TorchDraws(gen, batch)) if data_from_pipeline else fixed
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model.loss(batch_data["keypoints2d"], batch_data["mask"], batch_data["pose3d"]).float()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
        row[f"model_step_{precision}"] = _rate(lambda: step(False), batch, seconds)
        row[f"pipeline_and_step_{precision}"] = _rate(lambda: step(True), batch, seconds)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="mocap (npz or pack)")
    parser.add_argument("--window", type=int, default=27)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = [measure(args.data, args.window, args.batch, t, args.device, args.seconds) for t in args.threads]
    keys = [k for k in rows[0] if k not in ("threads", "device", "window", "batch")]
    print("| threads | " + " | ".join(keys) + " |")
    print("| ---: |" + " ---: |" * len(keys))
    for row in rows:
        print(f"| {row['threads']} | " + " | ".join(f"{row[k]:.0f}" for k in keys) + " |")
    print(json.dumps({"windows_per_s": rows, "load_avg_before_after": [load_before, os.getloadavg()]}))


if __name__ == "__main__":
    main()
