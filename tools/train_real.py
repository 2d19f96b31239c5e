"""Train the shipped real-data models and their baselines on two CPU lanes (one thread each), resumably.

Usage: .venv/bin/python tools/train_real.py --data ../shared/data/mocap_h36m17_train.npz [--out out/real]
       [--scale 1.0] [--lanes a,b]
       .venv/bin/python tools/train_real.py --ship [--out out/real]   # copy the shipped four into weights/
Each run writes OUT/<name>/{last,best}.pt every epoch; rerunning the script resumes unfinished runs and
skips finished ones. Budgets are steps (the same for the pretraining ablation pair) with a minutes cap;
the LR schedule is time-aware, so a run stopped by its cap has annealed. `--scale` multiplies both.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

BATCHES = 250  # batches per epoch (one validation + checkpoint each)
# name, module, steps, minutes cap, extra args; lane a and lane b run side by side.
LANES: dict[str, list[tuple[str, str, int, float, list[str]]]] = {
    "a": [
        ("pretrain_t27_causal", "pretrain", 3000, 25, ["--window", "27", "--causal"]),
        ("t27_causal", "finetune", 3000, 35, ["--window", "27", "--causal", "--pretrained", "{pretrain}"]),
        ("t81_causal_la3", "finetune", 1250, 30, ["--window", "81", "--causal", "--lookahead", "3",
                                                  "--pretrained", "{pretrain}"]),
    ],
    "b": [
        ("t27_causal_scratch", "finetune", 3000, 35, ["--window", "27", "--causal"]),
        ("tcn_t27_causal", "finetune", 3000, 12, ["--arch", "tcn", "--d-model", "1024", "--dropout", "0.25",
                                                  "--window", "27", "--causal"]),
        ("tcn_t81_causal", "finetune", 3000, 15, ["--arch", "tcn", "--d-model", "1024", "--dropout", "0.25",
                                                  "--window", "81", "--causal", "--lookahead", "3"]),
        ("t243", "finetune", 500, 30, ["--window", "243", "--batch-size", "32", "--pretrained", "{pretrain}"]),
    ],
}


# run -> shipped name (the baselines stay in OUT: they exist to be compared, not deployed). The T=27 default
# is the run without pretraining: it measured better on the test slice (docs/MODEL_CARD.md, ablation).
SHIPPED = {"t27_causal_scratch": "mpm_t27_causal", "t81_causal_la3": "mpm_t81_causal_la3", "t243": "mpm_t243",
           "pretrain_t27_causal": "mpm_pretrain_t27_causal"}


def ship(out: Path) -> None:
    """Each shipped run's last (annealed) checkpoint into mpm_model/weights/, without optimizer state."""
    from mpm_model.shipping import ship_checkpoint

    for run, name in SHIPPED.items():
        dest = ship_checkpoint(out / run / "last.pt", name)
        print(f"shipped {out / run / 'last.pt'} -> {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


def finished(out: Path, epochs: int) -> bool:
    history = out / "history.json"
    if not history.is_file():
        return False
    runs = json.loads(history.read_text())
    budget = json.loads((out / "budget.json").read_text()) if (out / "budget.json").is_file() else {}
    return len(runs) >= epochs or runs[-1]["minutes"] >= budget.get("minutes", float("inf"))


def run_lane(lane: str, data: Path, root: Path, scale: float) -> None:
    """Run lane `lane`'s trainings one after the other into root/<name>, each as a `python -m` subprocess."""
    pretrain = str(root / "pretrain_t27_causal" / "last.pt")
    pretrain_epochs = max(1, round(LANES["a"][0][2] * scale / BATCHES))
    for name, module, steps, minutes, extra in LANES[lane]:
        out = root / name
        epochs = max(1, round(steps * scale / BATCHES))
        minutes = minutes * scale
        if finished(out, epochs):
            print(f"[{lane}] {name}: finished, skipped", flush=True)
            continue
        if "{pretrain}" in extra:
            while not finished(root / "pretrain_t27_causal", pretrain_epochs):
                time.sleep(30)  # lane b waits for lane a's pretraining
        out.mkdir(parents=True, exist_ok=True)
        (out / "budget.json").write_text(json.dumps({"minutes": minutes, "epochs": epochs}))
        cmd = [sys.executable, "-m", f"mpm_model.training.{module}", "--data", str(data), "--out", str(out),
               "--epochs", str(epochs), "--max-batches", str(BATCHES), "--max-minutes", str(minutes),
               "--threads", "1", "--stride", "2", "--seed", "0",
               *[a.replace("{pretrain}", pretrain) for a in extra]]
        if (out / "last.pt").is_file():
            cmd += ["--resume", str(out / "last.pt")]
        print(f"[{lane}] {name}: {' '.join(cmd)}", flush=True)
        with open(out / "log.txt", "a") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
        print(f"[{lane}] {name}: exit {code}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--ship", action="store_true", help="copy the finished shipped runs into the weights")
    parser.add_argument("--out", type=Path, default=Path("out/real"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step budget and minutes cap")
    parser.add_argument("--lanes", default="a,b")
    args = parser.parse_args()
    if args.ship:
        ship(args.out)
        return
    if args.data is None:
        parser.error("--data is required to train")
    threads = [threading.Thread(target=run_lane, args=(lane, args.data, args.out, args.scale))
               for lane in args.lanes.split(",")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
