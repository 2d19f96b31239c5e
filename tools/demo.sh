#!/usr/bin/env bash
# End-to-end demo (`make demo`): bundled clip → rosbag2 → lift_node (ONNX Runtime) ← replay + record → report.
# Everything lands in out/demo/. ROS is isolated: a private domain id, localhost discovery, a private ROS_HOME.
# Overrides: CHECKPOINT (weights name or .pt), PEOPLE (2), DURATION (10 s), FPS (30), OUT (out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-out/demo}
CLIP=mpm_model/assets/demo_clip.npz
source tools/pipeline_lib.sh

rm -rf "$OUT"
ros_isolation "$OUT"
echo "demo: ROS_DOMAIN_ID=$ROS_DOMAIN_ID, output in $OUT/"

[[ -f "$CLIP" ]] || "$PY" tools/make_demo_clip.py --out "$CLIP"
"$PY" -c "import numpy as np; print('demo: clip source:', sorted(set(np.load('$CLIP')['source'].tolist())))"
"$PY" -m mpm_ros.bags.make_bag --mocap "$CLIP" --out "$OUT/input_bag" --people "${PEOPLE:-2}" --fps "${FPS:-30}" \
  --duration "${DURATION:-10}" --seed 0

checkpoint=$(best_checkpoint)
if [[ -n "$checkpoint" ]]; then
  echo "demo: weights: $checkpoint"
else
  cat <<'BANNER'
demo: ###########################################################################
demo: #  NO TRAINED WEIGHTS SHIPPED: the node runs a RANDOMLY INITIALISED model.  #
demo: #  Rate, latency and completeness are real; MPJPE / P-MPJPE and the 3D      #
demo: #  snapshot are NOT meaningful. Train (`make train`) or pass CHECKPOINT=...  #
demo: ###########################################################################
BANNER
fi
# shellcheck disable=SC2046  # word splitting of the -p arguments is intended
start_node "$OUT/node.log" -p backend:=onnxruntime -p engine_dir:="$PWD/build/engines" $(node_weight_args "$checkpoint")
trap stop_node EXIT
echo "demo: lift_node started (pid $node_pid, log $OUT/node.log); replay starts when it subscribes"
replay_through_node "$OUT/input_bag" "$OUT/output_bag"
stop_node
trap - EXIT

"$PY" -m mpm_ros.bags.report --input "$OUT/input_bag" --output "$OUT/output_bag" --json-out "$OUT/report.json" \
  --plots-dir "$OUT"
[[ -n "$checkpoint" ]] || echo "demo: REMINDER: random-init weights — the accuracy numbers above are not meaningful."
echo "demo: done. Report: $OUT/report.json; plots: $OUT/snapshot.png $OUT/error_over_time.png $OUT/latency_hist.png"
echo "demo: bags: $OUT/input_bag (replayed), $OUT/output_bag (recorded); node log: $OUT/node.log"
