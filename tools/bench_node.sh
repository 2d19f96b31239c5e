#!/usr/bin/env bash
# Node benchmark: lift_node (ONNX Runtime) on 1, 4 and 10 tracks at 30 Hz through the real ROS pipeline
# (make_bag → replay + record → report), plus bare Backend.infer() latency for the same batch sizes in the
# same run (python -m mpm_model.deploy.bench) — node overhead vs bare inference. Results in out/bench/.
# Overrides: TRACKS ("1 4 10"), DURATION (10 s), FPS (30), CHECKPOINT (weights; default shipped or random init).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-out/bench}
CLIP=mpm_model/assets/demo_clip.npz
TRACKS=${TRACKS:-"1 4 10"}
source tools/pipeline_lib.sh

rm -rf "$OUT"
ros_isolation "$OUT"
[[ -f "$CLIP" ]] || "$PY" tools/make_demo_clip.py --out "$CLIP"
checkpoint=$(best_checkpoint)
[[ -n "$checkpoint" ]] || echo "bench: no shipped weights: random-init model (latency does not depend on the weights)"
trap stop_node EXIT
for n in $TRACKS; do
  echo "bench: $n track(s)"
  "$PY" -m mpm_ros.bags.make_bag --mocap "$CLIP" --out "$OUT/tracks$n/input_bag" --people "$n" --all-visible \
    --dropout 0 --fps "${FPS:-30}" --duration "${DURATION:-10}" --seed "$n"
  # shellcheck disable=SC2046  # word splitting of the -p arguments is intended
  start_node "$OUT/tracks$n/node.log" -p backend:=onnxruntime -p engine_dir:="$PWD/build/engines" \
    $(node_weight_args "$checkpoint")
  replay_through_node "$OUT/tracks$n/input_bag" "$OUT/tracks$n/output_bag"
  stop_node
  "$PY" -m mpm_ros.bags.report --input "$OUT/tracks$n/input_bag" --output "$OUT/tracks$n/output_bag" \
    --json-out "$OUT/tracks$n/report.json" > "$OUT/tracks$n/report.txt"
done
trap - EXIT

window=$("$PY" -c "import json; print(json.load(open('$OUT/tracks${TRACKS%% *}/report.json'))['node']['window'])")
batches=$(echo "$TRACKS" | tr ' ' ',')
bench_args=(--backends onnxruntime --windows "$window" --batches "$batches" --runs 200 --threads "$(nproc)"
            --json-out "$OUT/infer.json")
[[ -z "$checkpoint" ]] || bench_args+=(--checkpoint "$checkpoint")
"$PY" -m mpm_model.deploy.bench "${bench_args[@]}" > "$OUT/infer.txt"

"$PY" - "$OUT" $TRACKS <<'EOF'
import json, sys
from pathlib import Path
out, tracks = Path(sys.argv[1]), [int(n) for n in sys.argv[2:]]
bare = {r["batch"]: r for r in json.loads((out / "infer.json").read_text())["results"]}
info = json.loads((out / "infer.json").read_text())["device_info"]
print(f"CPU: {info['cpu']} ({info['cpu_count']} cores), ONNX Runtime threads {info['threads']}")
print("| tracks | output Hz | e2e p50 ms | e2e p99 ms | completeness | dropped | node infer p50 ms | bare infer p50 ms | bare infer p99 ms | e2e p50 - bare p50 ms |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in tracks:
    r = json.loads((out / f"tracks{n}" / "report.json").read_text())
    lat, b = r["latency_ms"], bare[n]
    print(f"| {n} | {r['output_rate_hz']:.1f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {r['completeness']:.3f} | "
          f"{r['dropped'].get('dropped_total', '-')} | {r['node'].get('inference_p50_ms', '-')} | "
          f"{b['p50_ms']:.1f} | {b['p99_ms']:.1f} | {lat['p50'] - b['p50_ms']:.1f} |")
EOF
