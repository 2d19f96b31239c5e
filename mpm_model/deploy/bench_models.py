"""Model-speed table: our MPM lifter (causal and centred), the reference MPM lifter and our TCN baseline on CPU.

Every model is exported by the same exporter (`export_onnx`: dynamo, the same opset, a dynamic batch dimension,
head B only) and run in ONNX Runtime with the same session options (intra-op threads, thread-pool spinning off,
graph optimisation ORT_ENABLE_ALL; the options of the node's ONNX Runtime backend). Rows are timed in interleaved
rounds (every model x window x batch once per round, alternating the order) so machine noise hits them alike.

The reference is the lifter of the MPM paper's code (github vvirgooo2/MPM, `model/MPM.py: Model`), imported from a
checkout given by --reference-dir and built at our shipped size (depth, d_model, ffn_dim, window, strides); its
rows are skipped when no directory is given. The matmul floor is the model's FLOPs at the best throughput this
CPU reaches on a square MatMul (512 or 1024) in the same ONNX Runtime settings, measured in the same rounds.
FLOPs: one forward per sample (torch FlopCounterMode, attention products included; 1 MAC = 2 FLOPs).

Example: python -m mpm_model.deploy.bench_models --reference-dir /tmp/ref_mpm --json-out bench_models.json
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mpm_model.config import ModelConfig
from mpm_model.deploy.bench import cpu_model, uptime
from mpm_model.deploy.export import export_onnx
from mpm_model.deploy.model_stats import lifter_flops
from mpm_model.model import MPMLifter
from mpm_model.tcn import TCNLifter

LOG = logging.getLogger(__name__)
KINDS = ("ours_causal", "ours_centred", "reference", "tcn")
TCN_CHANNELS = 1024  # VideoPose3D's width, as the model card's first TCN baselines were trained
LABELS = {"ours_causal": "ours causal", "ours_centred": "ours centred", "reference": "reference MPM",
          "tcn": "TCN baseline"}
SHIPPED_LOOKAHEAD = {81: 3}  # causal look-ahead of the shipped causal lifter at that window (else 0)
FLOOR_SIZES = (512, 1024)  # square MatMuls whose best median throughput defines the matmul peak


# ----------------------------------------------------------------------------------------------------- models

class ReferenceLifter(nn.Module):
    """The reference `Model` behind our lifter interface: (keypoints2d (B, T, J, 2), mask) -> (target, target),
    target (B, 1, J, 3) from its head B. The reference has no joint-mask input: `mask` is ignored."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, keypoints2d: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = keypoints2d.permute(0, 3, 1, 2).unsqueeze(-1)  # (B, 2, T, J, 1): the reference's input layout
        out, _ = self.model(x)  # (B, 3, 1, J, 1) head B, (B, 3, T, J, 1) head A (dropped by the exporter)
        target = out[..., 0].permute(0, 2, 3, 1)  # (B, 1, J, 3)
        return target, target


def reference_args(cfg: ModelConfig) -> types.SimpleNamespace:
    """The reference's argparse options for a model of cfg's size (its `common/opt.py` names)."""
    return types.SimpleNamespace(layers=cfg.depth, channel=cfg.d_model, d_hid=cfg.ffn_dim, frames=cfg.window,
                                 stride_num=list(cfg.stride_schedule), n_joints=cfg.num_joints)


@contextlib.contextmanager
def _on_path(directory: Path):
    """Import from `directory` (the reference's top-level `model` package), then forget those modules again."""
    before = set(sys.modules)
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        for name in set(sys.modules) - before:
            if name == "model" or name.startswith("model."):
                del sys.modules[name]


def build_reference(reference_dir: str | Path, cfg: ModelConfig) -> nn.Module:
    """The reference lifter (`model/MPM.py: Model`) of the checkout at reference_dir, sized like cfg, eval mode."""
    reference_dir = Path(reference_dir)
    if not (reference_dir / "model" / "MPM.py").is_file():
        raise FileNotFoundError(f"{reference_dir} has no model/MPM.py (expected a checkout of vvirgooo2/MPM)")
    with _on_path(reference_dir):
        module = importlib.import_module("model.MPM")
        model = module.Model(reference_args(cfg))
    return ReferenceLifter(model).eval()


def build_models(window: int, size: dict[str, Any], reference_dir: Path | None,
                 seed: int = 0) -> dict[str, tuple[nn.Module, ModelConfig]]:
    """{kind: (eval-mode model with the (keypoints2d, mask) interface, the ModelConfig it is exported with)}."""
    torch.manual_seed(seed)
    causal = ModelConfig(window=window, causal=True, lookahead=SHIPPED_LOOKAHEAD.get(window, 0), **size)
    centred = causal.replace(causal=False, lookahead=0)
    tcn = ModelConfig(window=window, causal=True, arch="tcn", d_model=TCN_CHANNELS)
    models = {"ours_causal": (MPMLifter(causal).eval(), causal), "ours_centred": (MPMLifter(centred).eval(), centred)}
    if reference_dir is not None:
        models["reference"] = (build_reference(reference_dir, centred), centred)
    models["tcn"] = (TCNLifter(tcn).eval(), tcn)
    return models


@torch.no_grad()
def forward_flops(model: nn.Module, cfg: ModelConfig) -> int:
    """FLOPs of one forward for one sample (both heads where a model has two)."""
    if isinstance(model, MPMLifter):
        return lifter_flops(model)  # adds the SDPA products FlopCounterMode does not see on CPU
    keypoints = torch.zeros(1, cfg.window, cfg.num_joints, 2)
    mask = torch.zeros(1, cfg.window, cfg.num_joints, dtype=torch.bool)
    with FlopCounterMode(display=False) as counter:
        model(keypoints, mask)
    return counter.get_total_flops()


# ----------------------------------------------------------------------------------------------------- timing

def ort_session(onnx_path: str | Path, threads: int, spinning: bool = False) -> Any:
    """An ONNX Runtime CPU session with the node backend's options: `threads` intra-op threads, spinning off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        options.add_session_config_entry(key, "1" if spinning else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])


def floor_matmul_onnx(path: Path, size: int) -> Path:
    """A one-node graph Y = X @ W (size x size each, W constant): the CPU's best-case matmul throughput."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((size, size)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "floor",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [size, size])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path))
    return path


@dataclass
class Timed:
    """One session and its inputs; `times` collects seconds per call over the rounds."""

    name: str
    session: Any
    feed: dict[str, np.ndarray]
    calls: int = 1
    times: list[float] = field(default_factory=list)

    def call(self) -> float:
        started = time.perf_counter()
        self.session.run(None, self.feed)
        return time.perf_counter() - started


def interleaved(items: list[Timed], rounds: int, round_ms: float, warmup: int = 3) -> None:
    """Warm every item, size its calls per round to about round_ms, then run the rounds (order alternating)."""
    for item in items:
        for _ in range(warmup):
            item.call()
        estimate = min(item.call() for _ in range(2))
        item.calls = int(np.clip(round(round_ms / 1e3 / max(estimate, 1e-6)), 1, 200))
    for r in range(rounds):
        for item in items if r % 2 == 0 else items[::-1]:
            item.times.extend(item.call() for _ in range(item.calls))


def _percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p10_ms": float(np.percentile(ms, 10)),
            "p90_ms": float(np.percentile(ms, 90)), "calls": int(ms.size)}


# ----------------------------------------------------------------------------------------------------- table

@dataclass(frozen=True)
class ModelBenchOptions:
    windows: tuple[int, ...] = (27, 81, 243)
    batches: tuple[int, ...] = (1, 8)
    threads: int = 2
    rounds: int = 10
    round_ms: float = 60.0
    opset: int = 18
    reference_dir: Path | None = None
    workdir: Path | None = None
    size: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides of our size (tests: tiny models)

    def __post_init__(self) -> None:
        if not self.windows or not self.batches or min(self.batches) < 1 or self.threads < 1 or self.rounds < 1:
            raise ValueError(f"invalid options {self}")


def run(opts: ModelBenchOptions) -> dict[str, Any]:
    """Export, time and tabulate; returns {"info": ..., "rows": [...]} (rows: one per window x batch)."""
    import onnxruntime

    reference_dir = opts.reference_dir
    skipped = None
    if reference_dir is not None and not (Path(reference_dir) / "model" / "MPM.py").is_file():
        skipped = f"no model/MPM.py under {reference_dir}"
        reference_dir = None
    elif reference_dir is None:
        skipped = "no --reference-dir given"
    info: dict[str, Any] = {
        "uptime_before": uptime(), "cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": opts.threads,
        "spinning": False, "opset": opts.opset, "graph_optimization": "ORT_ENABLE_ALL",
        "onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "rounds": opts.rounds, "reference_dir": str(reference_dir) if reference_dir else None,
        "reference_skipped": skipped, "size": opts.size or "shipped (ModelConfig defaults)",
    }
    if skipped and opts.reference_dir is not None:
        LOG.warning("reference rows skipped: %s", skipped)
    batch_max = max(2, max(opts.batches))
    rng = np.random.default_rng(0)
    with contextlib.ExitStack() as stack:
        workdir = opts.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpm_bench_models_")))
        workdir.mkdir(parents=True, exist_ok=True)
        items: dict[tuple[str, int, int], Timed] = {}
        flops: dict[tuple[str, int], int] = {}
        for window in opts.windows:
            for kind, (model, cfg) in build_models(window, opts.size, reference_dir).items():
                flops[kind, window] = forward_flops(model, cfg)
                path = workdir / f"{kind}_t{window}_o{opts.opset}.onnx"
                started = time.perf_counter()
                export_onnx(model, cfg, path, batch_max=batch_max, opset=opts.opset)
                LOG.info("exported %s T=%d in %.1f s", kind, window, time.perf_counter() - started)
                session = ort_session(path, opts.threads)
                for batch in opts.batches:
                    feed = {"keypoints2d": rng.uniform(-1, 1, (batch, window, cfg.num_joints, 2)).astype(np.float32),
                            "mask": np.zeros((batch, window, cfg.num_joints), bool)}
                    feed = {i.name: feed[i.name] for i in session.get_inputs()}
                    items[kind, window, batch] = Timed(f"{kind} T={window} b={batch}", session, feed)
        floors = {n: Timed(f"matmul {n}^3", ort_session(floor_matmul_onnx(workdir / f"floor{n}.onnx", n), opts.threads),
                           {"X": rng.standard_normal((n, n)).astype(np.float32)}) for n in FLOOR_SIZES}
        interleaved([*floors.values(), *items.values()], opts.rounds, opts.round_ms)
    info["uptime_after"] = uptime()
    info["matmul"] = {}
    for n, timed in floors.items():
        stats = _percentiles(timed.times)
        info["matmul"][f"{n}^3"] = {**stats, "gflops_per_s": round(2 * n ** 3 / stats["p50_ms"] / 1e6, 1)}
    peak = max(m["gflops_per_s"] for m in info["matmul"].values()) * 1e9  # FLOP/s at the best median
    info["matmul_peak_gflops"] = round(peak / 1e9, 1)
    rows = []
    for window in opts.windows:
        for batch in opts.batches:
            row: dict[str, Any] = {"window": window, "batch": batch}
            for kind in KINDS:
                if (kind, window, batch) in items:
                    stats = _percentiles(items[kind, window, batch].times)
                    row[kind] = {**stats, "flops_per_sample": flops[kind, window],
                                 "gflops": flops[kind, window] * batch / 1e9}
            ours = row["ours_centred"]["gflops"] * 1e9
            row["floor_ms"] = round(ours / peak * 1e3, 3)
            for kind in ("ours_causal", "ours_centred"):
                row[kind]["floor_share"] = round(row["floor_ms"] / row[kind]["p50_ms"], 3)
                if "reference" in row:
                    row[f"{kind}_over_reference"] = round(row[kind]["p50_ms"] / row["reference"]["p50_ms"], 3)
            row["causal_over_centred"] = round(row["ours_causal"]["p50_ms"] / row["ours_centred"]["p50_ms"], 3)
            rows.append(row)
    return {"info": info, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    """The report as one markdown table plus a header line of the conditions."""
    info, rows = report["info"], report["rows"]
    has_ref = any("reference" in r for r in rows)
    head = ["T", "batch", "ours causal ms", "ours centred ms"] + (["reference ms"] if has_ref else []) + \
        ["TCN ms", "GFLOPs ours" + (" / ref" if has_ref else "") + " / TCN"] + \
        (["causal / ref", "centred / ref"] if has_ref else []) + \
        ["causal / centred", "matmul floor ms", "centred at % of floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        g = [f"{r['ours_centred']['gflops']:.3g}"] + ([f"{r['reference']['gflops']:.3g}"] if has_ref else []) + \
            [f"{r['tcn']['gflops']:.3g}"]
        cells = [str(r["window"]), str(r["batch"]), f"{r['ours_causal']['p50_ms']:.2f}",
                 f"{r['ours_centred']['p50_ms']:.2f}"]
        if has_ref:
            cells.append(f"{r['reference']['p50_ms']:.2f}")
        cells += [f"{r['tcn']['p50_ms']:.2f}", " / ".join(g)]
        if has_ref:
            cells += [f"{r['ours_causal_over_reference']:.2f}", f"{r['ours_centred_over_reference']:.2f}"]
        cells += [f"{r['causal_over_centred']:.2f}", f"{r['floor_ms']:.2f}",
                  f"{100 * r['ours_centred']['floor_share']:.0f} %"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"ONNX Runtime {info['onnxruntime']} CPU ({info['cpu']}, {info['threads']} threads, spinning off, "
             f"opset {info['opset']}, {info['rounds']} interleaved rounds), ms = p50 per call; matmul peak "
             f"{info['matmul_peak_gflops']} GFLOP/s.",
             f"uptime before: `{info['uptime_before']}`; after: `{info['uptime_after']}`."]
    if not has_ref:
        notes.append(f"Reference rows skipped: {info['reference_skipped']}.")
    return "\n".join(notes + [""] + lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.bench_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ModelBenchOptions()
    parser.add_argument("--reference-dir", type=Path, default=None,
                        help="checkout of github vvirgooo2/MPM (its model/MPM.py); reference rows skipped without it")
    parser.add_argument("--windows", type=int, nargs="+", default=list(d.windows))
    parser.add_argument("--batches", type=int, nargs="+", default=list(d.batches))
    parser.add_argument("--threads", type=int, default=d.threads, help="intra-op threads for every row")
    parser.add_argument("--rounds", type=int, default=d.rounds, help="interleaved rounds")
    parser.add_argument("--round-ms", type=float, default=d.round_ms, help="time per row per round (ms)")
    parser.add_argument("--opset", type=int, default=d.opset, help="ONNX opset for every export")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the exported .onnx files here")
    parser.add_argument("--json-out", type=Path, default=None, help="write the report as JSON")
    parser.add_argument("--markdown-out", type=Path, default=None, help="write the markdown table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("onnxscript", "onnx_ir", "torch.onnx"):
        logging.getLogger(chatty).setLevel(logging.ERROR)
    opts = ModelBenchOptions(windows=tuple(args.windows), batches=tuple(args.batches), threads=args.threads,
                             rounds=args.rounds, round_ms=args.round_ms, opset=args.opset,
                             reference_dir=args.reference_dir, workdir=args.workdir)
    report = run(opts)
    table = markdown(report)
    print(table)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    if args.markdown_out:
        args.markdown_out.write_text(table + "\n")
    return report


if __name__ == "__main__":
    main()
