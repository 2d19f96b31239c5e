#!/usr/bin/env bash
# Reproduce the shipped weights: MPM pretraining (masked 2D + masked 3D) at T=27, then fine-tuned lifters
# (T=27 centred, T=27 causal, T=81 centred) and the no-pretraining ablation, each with the same budget.
# Usage: tools/train.sh DATA.npz [PREFIX]   (env: EPOCHS per run, default 40; MINUTES cap per run, default 60;
# OUT, default out/train). The cosine learning-rate schedule spans EPOCHS: size EPOCHS so a run fits in MINUTES,
# since a run stopped by the time cap has not annealed its learning rate.
# The results are copied to mpm_model/weights/<PREFIX>_<variant>.pt (PREFIX defaults to "mpm").
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: tools/train.sh DATA.npz [PREFIX]}
PREFIX=${2:-mpm}
MINUTES=${MINUTES:-60}
OUT=${OUT:-out/train}/$PREFIX
PY=${PY:-.venv/bin/python}
[[ -f "$DATA" ]] || { echo "train: no such data file: $DATA" >&2; exit 1; }
mkdir -p "$OUT" mpm_model/weights
common=(--data "$DATA" --epochs "${EPOCHS:-40}" --max-minutes "$MINUTES" --batch-size 64 --stride 4 --seed 0)

run() {  # name, then CLI args; resumes from last.pt if a previous run was interrupted
  local name=$1; shift
  local resume=()
  [[ -f "$OUT/$name/last.pt" ]] && resume=(--resume "$OUT/$name/last.pt")
  echo "train: $name"
  "$PY" "$@" --out "$OUT/$name" "${resume[@]}"
}

run pretrain_t27 -m mpm_model.pretrain "${common[@]}" --window 27
run t27 -m mpm_model.finetune "${common[@]}" --window 27 --pretrained "$OUT/pretrain_t27/best.pt" --occlusion 0.1
run t27_causal -m mpm_model.finetune "${common[@]}" --window 27 --causal --lookahead 0 \
  --pretrained "$OUT/pretrain_t27/best.pt" --occlusion 0.1
run t27_scratch -m mpm_model.finetune "${common[@]}" --window 27 --occlusion 0.1
run t81 -m mpm_model.finetune "${common[@]}" --window 81 --pretrained "$OUT/pretrain_t27/best.pt" --occlusion 0.1

for variant in pretrain_t27 t27 t27_causal t81; do
  cp "$OUT/$variant/best.pt" "mpm_model/weights/${PREFIX}_${variant}.pt"
done
echo "train: weights in mpm_model/weights/ (${PREFIX}_*.pt); ablation run in $OUT/t27_scratch"
