"""One training command for a wall-clock budget: pretrain → lifters (T=27 causal from the pretraining, T=81 causal
look-ahead 3 from that T=27, T=243 centred from that T=81: `warm.widen_lifter`) → the no-pretraining ablation at
equal steps → the TCN baselines, on the batched view pipeline
(`mpm_model.data.views`) on the training device, bf16 autocast where it pays, resumable across calls.

    python -m mpm_model.training.campaign --data PACK_OR_NPZ --out OUT --budget-min 9            # GPU machine
    python -m mpm_model.training.campaign --data ... --out out/campaign_cpu --budget-min 50 --device cpu \\
        --threads 1 --plan warm --state out/campaign_cpu_state                                   # CPU, warm start
    python -m mpm_model.training.campaign ... --plan warm --runs t81_causal_la3 --init-from mpm_t27_causal \
        --device cpu --precision fp32                                  # CPU: T=81 started from the T=27 lifter
    python -m mpm_model.training.campaign --ship --out OUT --state STATE     # the plan's `ship_as` runs -> weights/
    make train                             # = the full plan for TRAIN_MIN minutes on this machine, then --ship

OUT gets at most 8 files: one compact (half-precision, `ship_checkpoint`) checkpoint per kept run and
`campaign.json` (plan, per-run histories, steps, windows/s, minutes, device). Each call is a round: every run of
the plan gets its share of the call's budget and continues from its compact checkpoint in OUT (weights, step and
clock; the optimizer restarts with a short warm-up unless --state holds its full checkpoint). A call stopped
before its end leaves its round open: the next call first finishes the runs that round did not reach. A run
stops at its minutes (the ablation at the steps its pretrained twin reached), its LR annealed by then
(time-aware cosine, `steps.lr_factor`). The plans, and which run ships under which name, are in `plans.py`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mpm_model.checkpoint import WEIGHTS_DIR, CheckpointError
from mpm_model.data.windows import training_view
from mpm_model.files import atomic_write_text
from mpm_model.shipping import ship_checkpoint
from mpm_model.training.campaign_runs import Trainer, device_settings
from mpm_model.training.plans import PLANS, RunSpec
from mpm_model.training.warm import EMBED_METHODS

log = logging.getLogger(__name__)
STATE_FILE = "campaign.json"
MAX_OUTPUT_FILES = 8


@dataclass
class Campaign:
    """The state in OUT/campaign.json: what each run did so far, and every call's timing."""

    plan: str
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, out: Path, plan: str) -> "Campaign":
        path = out / STATE_FILE
        if not path.is_file():
            return cls(plan)
        state = json.loads(path.read_text())
        if state["plan"] != plan:
            raise SystemExit(f"{path} is a {state['plan']!r} campaign, not {plan!r}: use another --out")
        for name, record in state["runs"].items():  # each spec in today's form (older ones had flat model fields)
            try:
                record["spec"] = RunSpec.from_record(record["spec"]).record()
            except (TypeError, ValueError) as exc:
                raise SystemExit(f"{path}: run {name!r} has an unreadable spec: {exc}") from exc
        return cls(state["plan"], state["runs"], state["calls"])

    def save(self, out: Path) -> None:
        atomic_write_text(out / STATE_FILE, json.dumps(asdict(self), indent=1))


def minutes_for(spec: RunSpec, plan: list[RunSpec], campaign: Campaign, left: float, round_: int) -> float:
    """This run's minutes this call: its share of what is left, among the runs not through this round yet."""
    open_runs = [s for s in plan if campaign.runs.get(s.name, {}).get("rounds", 0) < round_]
    total = sum(s.share for s in open_runs)
    return left * spec.share / total if total > 0 else 0.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpm_model.training.campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="training mocap (pack or npz; mpm_model.data.mocap.load_mocap); to train")
    parser.add_argument("--out", type=Path, required=True, help="campaign folder (≤ 8 files; rerun to continue)")
    parser.add_argument("--budget-min", type=float, help="wall-clock minutes of this call; to train")
    parser.add_argument("--plan", choices=sorted(PLANS), default="full",
                        help="full: pretrain → lifters → ablation → TCNs; warm: the shipped lifters continued")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="autocast dtype (auto: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 1024 on CUDA, 64 on CPU")
    parser.add_argument("--lr", type=float, default=None, help="default: 1e-3 · sqrt(batch / 64), at most 4e-3")
    parser.add_argument("--max-steps", type=int, default=None, help="cap per run (dry runs)")
    parser.add_argument("--val-windows", type=int, default=256, help="validation windows per source")
    parser.add_argument("--val-every-min", type=float, default=5.0, help="validation + checkpoint interval")
    parser.add_argument("--state", type=Path, default=None,
                        help="folder for full checkpoints with optimizer state (outside OUT: not size-limited)")
    parser.add_argument("--runs", default=None, help="comma list: only these runs of the plan (in plan order)")
    parser.add_argument("--init-from", default=None,
                        help="lifter (shipped name or path) the selected runs start from when they have no state yet, "
                             "across window lengths (mpm_model.training.warm)")
    parser.add_argument("--init-embed", choices=EMBED_METHODS, default="interpolate",
                        help="how --init-from resizes the position embeddings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact-share", type=float, default=training_view().detector.exact_share,
                        help="share of the training windows whose 2D is the exact projection, in [0, 1] (the rest get "
                             "the recipe's detector errors; mpm_model.data.windows.training_view, issue 26's lag)")
    parser.add_argument("--ship", action="store_true",
                        help="train nothing: install each selected run that has a shipped name (plans.py `ship_as`) "
                             "from its float32 checkpoint in --state into --weights-dir")
    parser.add_argument("--weights-dir", type=Path, default=None, help="--ship's target (default: mpm_model/weights)")
    return parser


def ship(plan: list[RunSpec], state: Path, weights_dir: Path | None) -> dict[str, str]:
    """Each run of `plan` with a `ship_as` name, from its full float32 checkpoint in `state`, into the shipped weights
    (`shipping.ship_checkpoint`: half precision, checked on the reference windows). All or nothing: every run is
    written to a staging folder beside the weights first, so one refused run leaves the weights as they were."""
    shipped = [spec for spec in plan if spec.ship_as]
    missing = [str(state / f"{spec.name}.pt") for spec in shipped if not (state / f"{spec.name}.pt").is_file()]
    if not shipped or missing:
        raise SystemExit(f"--ship: nothing ships from {[s.name for s in plan]}" if not shipped else
                         f"--ship: no full checkpoint {missing}: train with --state {state} first")
    target = Path(weights_dir or WEIGHTS_DIR)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".ship-") as staging:
        staged = {}
        for spec in shipped:
            try:
                staged[spec] = ship_checkpoint(state / f"{spec.name}.pt", spec.ship_as, weights_dir=staging)
            except CheckpointError as exc:
                raise SystemExit(f"--ship {spec.name} as {spec.ship_as}: {exc}; nothing shipped") from exc
        result = {}
        for spec, path in staged.items():
            dest = target / path.name
            os.replace(path, dest)
            print(f"shipped {state / spec.name}.pt as {spec.ship_as}: {dest} ({dest.stat().st_size / 2**20:.1f} MiB)")
            result[spec.ship_as] = str(dest)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    plan = PLANS[args.plan]
    if args.runs:
        wanted = {r.strip() for r in args.runs.split(",") if r.strip()}
        unknown = wanted - {s.name for s in plan}
        if unknown:
            parser.error(f"--runs {sorted(unknown)} not in plan {args.plan!r}: {[s.name for s in plan]}")
        plan = [s for s in plan if s.name in wanted]
    if args.ship:
        if args.state is None:
            parser.error("--ship installs from the full checkpoints: give --state")
        return {"shipped": ship(plan, args.state, args.weights_dir)}
    if args.data is None or args.budget_min is None:
        parser.error("training needs --data and --budget-min")
    if args.budget_min <= 0:
        parser.error(f"--budget-min must be > 0, got {args.budget_min}")
    try:
        view = training_view(exact_share=args.exact_share)
    except ValueError as exc:
        parser.error(f"--exact-share: {exc}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = device_settings(args.device, args.precision, args.batch_size, args.lr)
    if args.init_from:
        if any(s.kind != "lifter" for s in plan):
            parser.error("--init-from starts lifters: select only lifter runs with --runs")
        plan = [dataclasses.replace(s, init=f"from:{args.init_from}", embed=args.init_embed) for s in plan]
    if sum(s.keep for s in plan) > MAX_OUTPUT_FILES - 1:
        parser.error(f"plan keeps more than {MAX_OUTPUT_FILES - 1} checkpoints")
    args.out.mkdir(parents=True, exist_ok=True)
    campaign = Campaign.load(args.out, args.plan)
    started = time.monotonic()
    call = {"budget_min": args.budget_min, "device": settings.describe(), "threads": torch.get_num_threads(),
            "exact_share": args.exact_share, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": []}
    trainer = Trainer(args.data, settings, args.seed, args.val_windows, args.val_every_min, args.state, view)
    round_ = len(campaign.calls) + 1  # a call killed before its end leaves the round open: the next one finishes it
    for spec in plan:
        record = campaign.runs.setdefault(spec.name, {"spec": spec.record(), "rounds": 0})
        if record["rounds"] >= round_:
            continue
        twin = campaign.runs.get(spec.equal_steps_to or "", {})
        if spec.equal_steps_to and twin.get("rounds", 0) < round_:
            log.info("%s waits for %s (equal steps)", spec.name, spec.equal_steps_to)
            continue
        left = args.budget_min - (time.monotonic() - started) / 60
        minutes = minutes_for(spec, plan, campaign, left, round_)
        if minutes < 0.05 and args.max_steps is None:
            log.info("%s: no budget left in this call", spec.name)
            continue
        record["spec"] = spec.record()  # what this call trains it with (--init-from may change it)
        trainer.run(spec, record, args.out, minutes, twin.get("step") if spec.equal_steps_to else None,
                    args.max_steps, on_progress=lambda: campaign.save(args.out))
        record["rounds"] = round_
        call["runs"].append({"name": spec.name, "minutes": minutes, "step": record.get("step")})
        campaign.save(args.out)
    call["minutes"] = (time.monotonic() - started) / 60
    campaign.calls.append(call)
    campaign.save(args.out)
    files = sorted(p.name for p in args.out.iterdir() if p.is_file())
    if len(files) > MAX_OUTPUT_FILES:
        log.warning("%s holds %d files (> %d): not all will travel back", args.out, len(files), MAX_OUTPUT_FILES)
    done = [n for n, r in campaign.runs.items() if r["rounds"] >= round_]
    seen = ", ".join(f"{name} {record.get('windows', 0):,}" for name, record in campaign.runs.items())
    print(f"campaign {args.plan}, round {round_}: {call['minutes']:.2f} min; through: {done}; "
          f"open: {[s.name for s in plan if s.name not in done]}; windows seen in all: {seen}; "
          f"state in {args.out / STATE_FILE}")
    return asdict(campaign)


if __name__ == "__main__":
    main()
