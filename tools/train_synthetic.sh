#!/usr/bin/env bash
# Reproduce the shipped synthetic-motion weights (docs/MODEL_CARD.md) and the model card's numbers:
# synthetic data -> MPM pretraining (T=27) -> causal T=27 lifter fine-tuned from it, the same lifter from scratch
# (the pretraining ablation, same number of steps) and a centred T=27 lifter -> evaluation on a held-out file.
# CPU only; about 75 minutes on 2 cores. Outputs in out/train/ and out/eval/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
T=out/train
mkdir -p "$T" out/eval
"$PY" -m mpm_model.make_synthetic --out "$T/synth_train.npz" --sequences 40 --frames 1500 --seed 1
"$PY" -m mpm_model.make_synthetic --out "$T/synth_test.npz" --sequences 6 --frames 600 --seed 12345

# The shipped pretrain checkpoint came from a 12-minute budget (it stopped after 2 of 100 scheduled epochs).
"$PY" -m mpm_model.pretrain --data "$T/synth_train.npz" --out "$T/pretrain_t27" --epochs 100 --max-minutes 12 \
  --batch-size 128 --stride 4 --seed 0
lifter=(--data "$T/synth_train.npz" --window 27 --occlusion 0.1 --epochs 15 --max-batches 120 --batch-size 64
        --stride 4 --seed 0)
"$PY" -m mpm_model.finetune "${lifter[@]}" --out "$T/t27_causal" --causal --lookahead 0 \
  --pretrained "$T/pretrain_t27/best.pt"
"$PY" -m mpm_model.finetune "${lifter[@]}" --out "$T/t27_causal_scratch" --causal --lookahead 0
"$PY" -m mpm_model.finetune "${lifter[@]}" --out "$T/t27" --pretrained "$T/pretrain_t27/best.pt"

bash tools/model_card_eval.sh "$T/synth_test.npz" "$T/t27_causal/best.pt" "$T/t27_causal_scratch/best.pt" \
  "$T/t27/best.pt" "$T/pretrain_t27/best.pt"
