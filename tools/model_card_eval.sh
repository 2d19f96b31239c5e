#!/usr/bin/env bash
# The model card's tables and figure: every number comes from `python -m mpm_model.evaluate` (JSON in out/eval/).
# Usage: tools/model_card_eval.sh TEST.npz CAUSAL_PRETRAINED CAUSAL_SCRATCH CENTRED_PRETRAINED PRETRAIN
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[[ $# -eq 5 ]] || { sed -n 2,3p "$0"; exit 2; }
data=$1 causal=$2 scratch=$3 centred=$4 pretrain=$5
mkdir -p out/eval
evaluate() {  # name, then evaluate args
  local name=$1; shift
  "$PY" -m mpm_model.evaluate --data "$data" --stride 5 --json-out "out/eval/$name.json" "$@" 2>/dev/null | tail -7
}
for label in causal scratch centred; do
  ckpt=${!label}
  evaluate "${label}_lift" --checkpoint "$ckpt" --task lift
  for occ in 0.1 0.3 0.5; do evaluate "${label}_occ$occ" --checkpoint "$ckpt" --task lift_occluded --occlusion "$occ"; done
done
for occ in 0.1 0.3 0.5; do evaluate "complete_$occ" --checkpoint "$pretrain" --task complete --occlusion "$occ"; done
"$PY" tools/occlusion_curve.py --data "$data" --out docs/occlusion_curve.png --ratios 0,0.1,0.3,0.5 \
  --checkpoint "causal, pretrained=$causal" --checkpoint "causal, from scratch=$scratch" \
  --checkpoint "centred, pretrained=$centred" 2>/dev/null
"$PY" - <<'PY'
import json, pathlib
rows = []
for path in sorted(pathlib.Path("out/eval").glob("*.json")):
    m = json.loads(path.read_text())["metrics"]
    rows.append(f"| {path.stem} | {m['mpjpe_mm']:.1f} | {m['p_mpjpe_mm']:.1f} | {m['n_mpjpe_mm']:.1f} | "
                f"{m['velocity_error_mm']:.2f} | {m['pck150']:.3f} | {m['auc']:.3f} |")
print("| run | MPJPE mm | P-MPJPE mm | N-MPJPE mm | velocity mm | PCK@150 | AUC |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print("\n".join(rows))
PY
