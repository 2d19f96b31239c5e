"""Measure every number of docs/MODEL_CARD.md: each lifter under each condition on the test slice and the
validation subjects (per source), completion with the pretrain checkpoint, ONNX Runtime CPU latency at
batch 1 and 8, and the error-vs-occlusion figure. Writes OUT.json, OUT.md (the tables, under a dated title) and
OUT.png; cards kept in the repository go to docs/cards/ as DATE_WHAT (docs/cards/README.md).

    .venv/bin/python tools/model_card.py --test ../shared/data/mocap_h36m17_test_slice.npz \
        --train ../shared/data/mocap_h36m17_train.npz --out docs/cards/2026-12-01_full \
        --lifter "MPM T=27 causal=mpm_t27_causal" --lifter "TCN T=27 causal=out/real/tcn_t27_causal/last.pt" \
        --pretrain mpm_pretrain_t27_causal [--workers 2]
A lifter is LABEL=NAME_OR_PATH; models run in parallel worker processes (one thread each). Each model's
results are cached in --cache (default out/model_card_cache) under its label and file (size + mtime), so a
rerun with one more model measures only that one.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

# name: (EvalOptions overrides); the first four are the headline conditions of the card.
TEST_CONDITIONS: dict[str, dict] = {
    "h36m": {},
    "robot": {"camera": "robot"},
    "h36m_coco": {"coco": True},
    "robot_coco_detector": {"camera": "robot", "coco": True, "detector": True},
    "h36m_occ10": {"task": "lift_occluded", "occlusion": 0.1},
    "h36m_occ30": {"task": "lift_occluded", "occlusion": 0.3},
    "h36m_occ50": {"task": "lift_occluded", "occlusion": 0.5},
    "h36m_15hz": {"present_fps": 15.0},
    "h36m_60hz": {"present_fps": 60.0},
    "h36m_wrists": {"lasting": "wrists"},  # occlusion that lasts: both wrists hidden in every frame
    "h36m_ankles": {"lasting": "ankles"},
    "h36m_border": {"lasting": "border"},  # image bottom cuts the lower body (a person close to the camera)
}
VAL_CONDITIONS = ("h36m", "robot", "robot_coco_detector")
OCCLUSION_CURVE = (("h36m", 0.0), ("h36m_occ10", 0.1), ("h36m_occ30", 0.3), ("h36m_occ50", 0.5))


def _coverage(window: int, sparse: int = 1) -> dict:
    """Runs of 4 consecutive frames every 8/16/64 frames (longer windows cost more), `sparse` times fewer."""
    return {"run": 4, "stride": sparse * (8 if window <= 27 else 16 if window <= 81 else 64)}


def measure_lifter(label: str, source: str, test: str, train: str | None, sparse: int = 1, mirror: bool = False,
                   gap_fill: int = 0) -> dict:
    import torch

    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.evaluation import EvalOptions, evaluate, select_sequences

    torch.set_num_threads(1)
    model, cfg, meta = load_checkpoint(source, kind="lifter")
    started = time.monotonic()
    result = {"label": label, "source": source, "config": cfg.to_dict(), "trained": (meta.get("extra") or {}).get(
        "history", [{}])[-1], "mirror": mirror, "gap_fill": gap_fill, "test": {}, "val": {}}
    test_seqs = select_sequences(test, "all", 0.15, 0)
    for name, overrides in TEST_CONDITIONS.items():
        opts = EvalOptions(**_coverage(cfg.window, sparse), **overrides, mirror=mirror, gap_fill=gap_fill)
        result["test"][name] = evaluate(model, cfg, test_seqs, opts)
    if train:
        val_seqs = select_sequences(train, "val", 0.15, 0)
        for name in VAL_CONDITIONS:
            result["val"][name] = evaluate(model, cfg, val_seqs,
                                           EvalOptions(**_coverage(cfg.window, 2 * sparse), **TEST_CONDITIONS[name],
                                                       mirror=mirror, gap_fill=gap_fill))
    result["minutes"] = (time.monotonic() - started) / 60
    return result


def ort_latency(sources: list[str], runs: int, rounds: int = 3) -> list[dict]:
    """ONNX Runtime p50 latency (ms, 1 thread) at batch 1 and 8 of each exported model, measured side by side:
    `rounds` interleaved passes over all models, the median of the rounds kept (a busy machine slows every
    model of a round alike). Not cached: every run re-measures, in one process, after the evaluations."""
    import torch

    from mpm_model.deploy.backends import create_backend
    from mpm_model.deploy.bench import time_backend

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        backends = [create_backend("onnxruntime", checkpoint=source, engine_dir=tmp, device="cpu", threads=1,
                                   export_batch_max=8) for source in sources]
        samples = [[[] for _ in (1, 8)] for _ in backends]
        for _ in range(rounds):
            for backend, sample in zip(backends, samples):
                for slot, batch in zip(sample, (1, 8)):
                    slot.append(time_backend(backend, batch, runs, warmup=3)["p50_ms"])
    return [{"b1": float(np.median(b1)), "b8": float(np.median(b8))} for b1, b8 in samples]


def measure_completion(source: str, test: str) -> dict:
    import torch

    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.evaluation import EvalOptions, evaluate, select_sequences

    torch.set_num_threads(1)
    model, cfg, _ = load_checkpoint(source, kind="pretrain")
    seqs = select_sequences(test, "all", 0.15, 0)
    return {f"{ratio:.1f}": evaluate(model, cfg, seqs, EvalOptions(task="complete", occlusion=ratio, stride=8, run=1))
            for ratio in (0.1, 0.3, 0.5, 0.7)}


def _cache_file(cache_dir: Path, label: str, source: str, kind: str, sparse: int = 1, mirror: bool = False,
                gap_fill: int = 0) -> Path:
    from mpm_model.checkpoint import resolve

    path = resolve(source)
    stat = path.stat()
    slug = "".join(c if c.isalnum() else "_" for c in f"{kind}_{label}_{path.name}_{stat.st_size}_{stat.st_mtime_ns}"
                                                      f"_{sparse}{'_mirror' if mirror else ''}{f'_gaps{gap_fill}' if gap_fill else ''}")
    return cache_dir / f"{slug}.json"


def _cached(pool: ProcessPoolExecutor, cache: Path, fn, *args) -> Future:
    """The cached JSON as a finished future, or the submitted job (its result is written to the cache)."""
    if cache.is_file():
        done: Future = Future()
        done.set_result(json.loads(cache.read_text()))
        return done

    def store(future: Future) -> None:
        if future.exception() is None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(future.result()))

    job = pool.submit(fn, *args)
    job.add_done_callback(store)
    return job


def _metric(entry: dict, key: str = "mpjpe_mm") -> str:
    value = entry["metrics"].get(key)
    return "–" if value is None else f"{value:.1f}" if key.endswith("_mm") else f"{value:.3f}"


def tables(results: list[dict], completion: dict | None) -> str:
    lines = ["### Test slice (36 sequences, 6 performers/styles, 3 never in training), MPJPE mm", "",
             "| model | H36M cams | robot cams | COCO-mapped | robot+COCO+detector | occl. 10 % | 30 % | 50 % "
             "| 15 Hz | 60 Hz | wrists hidden | ankles hidden | border cut | ORT b1 ms | ORT b8 ms |",
             "| --- |" + " ---: |" * (len(TEST_CONDITIONS) + 2)]
    for r in results:
        cells = [_metric(r["test"][c]) for c in TEST_CONDITIONS]
        lines.append(f"| {r['label']} | " + " | ".join(cells)
                     + f" | {r['latency_ms']['b1']:.2f} | {r['latency_ms']['b8']:.2f} |")
    lines += ["", "### Test slice, H36M-like cameras, clean 2D: all metrics", "",
              "| model | MPJPE | P-MPJPE | N-MPJPE | velocity | PCK@150 | AUC |", "| --- |" + " ---: |" * 6]
    for r in results:
        entry = r["test"]["h36m"]
        lines.append(f"| {r['label']} | " + " | ".join(_metric(entry, k) for k in (
            "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "velocity_error_mm", "pck150", "auc")) + " |")
    sources = sorted({s for r in results for s in r["test"]["h36m"]["per_source"]})
    lines += ["", "### Per source, MPJPE mm (test slice: H36M cams / robot+COCO+detector; validation subjects: "
              "H36M cams / robot cams / robot+COCO+detector)", "",
              "| model | " + " | ".join(f"test {s}" for s in sources) + " | "
              + " | ".join(f"val {s}" for s in sources) + " |", "| --- |" + " ---: |" * (2 * len(sources))]
    for r in results:
        test_cells = [f"{_metric_src(r['test']['h36m'], s)} / {_metric_src(r['test']['robot_coco_detector'], s)}"
                      for s in sources]
        val_cells = [" / ".join(_metric_src(r["val"][c], s) for c in VAL_CONDITIONS) if r["val"] else "–"
                     for s in sources]
        lines.append(f"| {r['label']} | " + " | ".join(test_cells + val_cells) + " |")
    if completion:
        lines += ["", "### 3D completion (pretrain checkpoint, test slice): MPJPE mm on masked joints / all joints",
                  "", "| joints masked per frame | " + " | ".join(f"{float(k):.0%}" for k in completion) + " |",
                  "| --- |" + " ---: |" * len(completion),
                  "| masked joints / all joints | " + " | ".join(
                      f"{_metric(v, 'masked_mpjpe_mm')} / {_metric(v)}" for v in completion.values()) + " |"]
    return "\n".join(lines) + "\n"


def _metric_src(entry: dict, source: str) -> str:
    per = entry["per_source"].get(source)
    return "–" if per is None else f"{per['mpjpe_mm']:.1f}"


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        ax.plot([100 * ratio for _, ratio in OCCLUSION_CURVE],
                [r["test"][c]["metrics"]["mpjpe_mm"] for c, _ in OCCLUSION_CURVE], marker="o", label=r["label"])
    ax.set_xlabel("2D joint-frames masked (%)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("Error vs occlusion, real mocap test slice (H36M-like cameras)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", required=True, help="test slice npz (reporting only)")
    parser.add_argument("--train", default=None, help="training npz: its held-out validation subjects are reported")
    parser.add_argument("--lifter", action="append", required=True, help="LABEL=NAME_OR_PATH (repeatable)")
    parser.add_argument("--pretrain", default=None, help="pretrain checkpoint for the completion table")
    parser.add_argument("--out", type=Path, required=True, help="output stem: OUT.json, OUT.md, OUT.png")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("out/model_card_cache"), help="per-model result cache")
    parser.add_argument("--sparse", type=int, default=1, help="evaluate every SPARSE-th run only (quicker)")
    parser.add_argument("--bench-runs", type=int, default=50, help="timed calls per model, batch and round")
    parser.add_argument("--mirror", action="store_true", help="lift each window also mirrored and average the two, "
                        "as the node does by default (mirror_max_tracks); the latency table stays one pass")
    parser.add_argument("--gap-fill", type=int, default=0, help="bridge hidden joints' gaps of at most this many "
                        "frames before lifting, as the node does (gap_fill_frames, 8 by default there)")
    args = parser.parse_args(argv)
    specs = [spec.rpartition("=")[::2] for spec in args.lifter]
    if any(not label or not source for label, source in specs):
        parser.error("--lifter must be LABEL=NAME_OR_PATH")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        jobs = [_cached(pool, _cache_file(args.cache, label, source, "lifter", args.sparse, args.mirror, args.gap_fill),
                        measure_lifter, label, source, args.test, args.train, args.sparse, args.mirror, args.gap_fill)
                for label, source in specs]
        completion_job = (_cached(pool, _cache_file(args.cache, "completion", args.pretrain, "pretrain"),
                                  measure_completion, args.pretrain, args.test) if args.pretrain else None)
        results = [job.result() for job in jobs]
        completion = completion_job.result() if completion_job else None
    load_before = os.getloadavg()
    for result, latency in zip(results, ort_latency([source for _, source in specs], args.bench_runs)):
        result["latency_ms"] = latency
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"test": args.test, "train": args.train, "lifters": results, "completion": completion,
              "latency_load_avg_before_after": [load_before, os.getloadavg()]}
    report["measured"] = time.strftime("%Y-%m-%d")
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    title = (f"# Model card tables measured {report['measured']} by tools/model_card.py\n\nThe weights named here "
             "are those of that day; the shipped weights' current numbers: docs/MODEL_CARD.md."
             + (" Every window lifted also mirrored and the two averaged (`--mirror`, the node's mirror_max_tracks)."
                if args.mirror else "")
             + (f" Hidden joints' gaps of up to {args.gap_fill} frames bridged first (`--gap-fill`, the node's "
                "gap_fill_frames)." if args.gap_fill else "") + "\n\n")
    text = title + tables(results, completion)
    args.out.with_suffix(".md").write_text(text)
    plot(results, args.out.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
