# Sourced by tools/demo.sh and tools/bench_node.sh: run lift_node in the background and replay a bag
# through it. Needs PY set; callers set ROS isolation (domain id, localhost discovery, ROS_HOME) first.

# start_node LOG ARGS...: start `python -m mpm_ros.lift_node --ros-args ARGS...`, pid in $node_pid.
start_node() {
  local log=$1
  shift
  "$PY" -m mpm_ros.lift_node --ros-args "$@" > "$log" 2>&1 &
  node_pid=$!
  node_log=$log
}

# stop_node: SIGINT (clean lifecycle shutdown), SIGKILL after 10 s.
stop_node() {
  [[ -n "${node_pid:-}" ]] || return 0
  if kill -0 "$node_pid" 2>/dev/null; then
    kill -INT "$node_pid"
    for _ in $(seq 50); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$node_pid" 2>/dev/null; then
      echo "lift_node did not stop on SIGINT; killing it" >&2
      kill -KILL "$node_pid"
    fi
  fi
  wait "$node_pid" 2>/dev/null || true
  node_pid=
}

# replay_through_node IN_BAG OUT_BAG: replay + record while watching the node; fails if the node dies.
replay_through_node() {
  "$PY" -m mpm_ros.bags.replay --bag "$1" --record "$2" --wait-timeout 90 --drain 3 &
  local replay_pid=$!
  while kill -0 "$replay_pid" 2>/dev/null; do
    if ! kill -0 "$node_pid" 2>/dev/null; then
      echo "lift_node exited early; the end of its log ($node_log):" >&2
      tail -20 "$node_log" >&2
      kill -INT "$replay_pid"
      wait "$replay_pid" || true
      return 1
    fi
    sleep 0.5
  done
  wait "$replay_pid"
}

# node_weight_args [CHECKPOINT]: the -p arguments that select the weights (none = random init).
node_weight_args() {
  local checkpoint=$1
  [[ -n "$checkpoint" ]] || return 0
  # The node checks causal/lookahead against the model; pass the model's own values.
  "$PY" - "$checkpoint" <<'EOF'
import sys
from pathlib import Path
from mpm_model.checkpoint import load_checkpoint, load_pretrained
name = sys.argv[1]
cfg = (load_checkpoint(name) if Path(name).is_file() else load_pretrained(name))[1]
print(f"-p checkpoint:={name} -p window:=0 -p causal:={str(cfg.causal).lower()} -p lookahead:={cfg.lookahead}")
EOF
}

# best_checkpoint: $CHECKPOINT, else config/lift.yaml's checkpoint when it is shipped, else the first shipped
# lifter, else empty (random init).
best_checkpoint() {
  if [[ -n "${CHECKPOINT:-}" ]]; then echo "$CHECKPOINT"; return; fi
  "$PY" - <<'EOF'
import yaml
from mpm_model.checkpoint import list_pretrained
lifters = list_pretrained("lifter")
configured = yaml.safe_load(open("config/lift.yaml"))["/**"]["ros__parameters"]["checkpoint"]
print(configured if configured in lifters else (lifters or [""])[0])
EOF
}

# ros_isolation OUT_DIR: private domain id, localhost discovery, ROS_HOME under OUT_DIR.
ros_isolation() {
  export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( RANDOM % 100 + 101 ))}
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1 PYTHONUNBUFFERED=1
  mkdir -p "$1/ros_home"
  ROS_HOME="$(cd "$1/ros_home" && pwd)"
  export ROS_HOME ROS_LOG_DIR="$ROS_HOME/log"
}
