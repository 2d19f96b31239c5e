#!/usr/bin/env bash
# Build this repo's two ROS 2 packages (mpm_msgs: ament_cmake, mpm_ros: ament_python) with a real
# `colcon build` in a scratch workspace, as on a ROS 2 install, then check the install space.
# There is no apt ROS here: the ROS 2 PyPI wheels in .venv are the underlay. colcon goes in its own
# venv (made from .venv's interpreter, seeing .venv's packages through a .pth), so .venv is never
# modified. Needs network access to PyPI on the first run only. Idempotent: the colcon venv is
# reused while its pins match; the workspace is rebuilt from scratch every run.
#
#   bash tools/colcon_check.sh [--strict-discovery] [extra colcon build args, e.g. --symlink-install]
#
# --strict-discovery: fail when a plain `colcon list` in the workspace misses a package (the
# README's `colcon build` flow) instead of falling back to explicit --base-paths.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ROS_VENV=$(cd "${ROS_VENV:-$repo/.venv}" && pwd)
COLCON_VENV=${COLCON_VENV:-/tmp/mpm-colcon-venv}
WS=${COLCON_WS:-/tmp/mpm-colcon-ws}
PINS=(colcon-common-extensions==0.3.0 colcon-core==0.21.3 colcon-ros==0.5.0 colcon-cmake==0.2.30
      colcon-python-setup-py==0.2.9 colcon-recursive-crawl==0.2.3 setuptools==79.0.1)
strict=0
if [[ ${1:-} == --strict-discovery ]]; then strict=1; shift; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
t0=$SECONDS
say() { echo "colcon_check: $*"; }
fail() { echo "colcon_check: FAIL: $*" >&2; exit 1; }

# 1. colcon venv, on the same interpreter as the ROS wheels.
ros_site=$("$ROS_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
stamp="$COLCON_VENV/.mpm_colcon_stamp"
if [[ ! -f $stamp || "$(cat "$stamp")" != "${PINS[*]} $ROS_VENV" ]]; then
  say "creating $COLCON_VENV"
  rm -rf "$COLCON_VENV"
  "$ROS_VENV/bin/python" -m venv "$COLCON_VENV"
  "$COLCON_VENV/bin/python" -m pip install -q "${PINS[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
  col_site=$("$COLCON_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$ros_site" > "$col_site/zz_mpm_ros_underlay.pth"  # appended after colcon's own packages
  echo "${PINS[*]} $ROS_VENV" > "$stamp"
fi
py="$COLCON_VENV/bin/python"

# 2. The underlay environment: what /opt/ros/<distro>/setup.bash would set. The wheels' native
# libraries live in .venv/lib and site-packages/ros_*.libs (ros_wheels_bootstrapper's list).
ros_libs=$(find "$ros_site" -maxdepth 1 -type d -name 'ros_*.libs' | sort | tr '\n' ':')
export LD_LIBRARY_PATH="$ROS_VENV/lib:$ros_libs${LD_LIBRARY_PATH:-}"
export AMENT_PREFIX_PATH="$ROS_VENV" CMAKE_PREFIX_PATH="$ROS_VENV" PATH="$COLCON_VENV/bin:$ROS_VENV/bin:$PATH"
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( RANDOM % 100 + 1 ))} ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1
export ROS_HOME=${ROS_HOME:-$(mktemp -d)}
"$py" -c "import rclpy, rosidl_generator_py, ament_index_python" || fail "$py cannot import the ROS wheels"
say "colcon $("$py" -c 'from importlib.metadata import version; print(version("colcon-core"))'), python $("$py" -c 'import sys; print(sys.version.split()[0])'), cmake $(cmake --version | head -1 | cut -d' ' -f3)"

# 3. Scratch workspace: the working tree's tracked and non-ignored files, cloned as README says.
rm -rf "$WS" && mkdir -p "$WS/src/mpm_ros"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -I{} sh -c 'test -e "$1" && printf "%s\0" "$1"' _ {} \
  | tar --null -T - -cf -) | tar -xf - -C "$WS/src/mpm_ros"
cd "$WS"

found=$(colcon list --names-only | sort | tr '\n' ' ')
base_paths=()
if [[ $found != "mpm_msgs mpm_ros " ]]; then
  msg="plain 'colcon list' in the workspace finds only: $found(colcon and rosdep stop descending at a package.xml, so mpm_msgs/ nested in the mpm_ros package is not discovered)"
  (( strict )) && fail "$msg"
  echo "colcon_check: WARNING: $msg; building with explicit --base-paths" >&2
  base_paths=(--base-paths src/mpm_ros src/mpm_ros/mpm_msgs)
fi

say "colcon build ${base_paths[*]} $*"
tb=$SECONDS
colcon build "${base_paths[@]}" --event-handlers console_cohesion- summary- status- "$@" \
  --cmake-args -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF > build.log 2>&1 \
  || { tail -40 build.log >&2; fail "colcon build (log: $WS/build.log)"; }
say "build took $(( SECONDS - tb )) s"
grep -E "UserWarning|DeprecationWarning|CMake Warning" build.log | sed 's/^/colcon_check: build warning: /' | sort -u || true

# 4. Install-space checks, in a shell that sourced install/setup.bash like a user would.
for f in launch/lift.launch.py config/lift.yaml rviz/lift.rviz package.xml; do
  [[ -f install/mpm_ros/share/mpm_ros/$f ]] || fail "missing install/mpm_ros/share/mpm_ros/$f"
done
[[ -x install/mpm_ros/lib/mpm_ros/lift_node ]] || fail "missing console script install/mpm_ros/lib/mpm_ros/lift_node"
# shellcheck disable=SC1091
set +u; source install/setup.bash; set -u
(cd /tmp && "$py" - "$WS/install" <<'EOF') || fail "install-space import checks"
import sys
from pathlib import Path
install = Path(sys.argv[1])
import mpm_model, mpm_msgs.msg, mpm_ros
from ament_index_python.packages import get_package_share_directory
from rclpy.serialization import deserialize_message, serialize_message
# Under the workspace, not the underlay (.venv has its own mpm_msgs and an editable mpm_ros);
# --symlink-install resolves into build/ and src/, hence the workspace root.
for mod in (mpm_msgs.msg, mpm_ros, mpm_model):
    if not Path(mod.__file__).resolve().is_relative_to(install.parent.resolve()):
        sys.exit(f"{mod.__name__} imported from {mod.__file__}, expected under {install.parent}")
for pkg in ("mpm_ros", "mpm_msgs"):
    share = Path(get_package_share_directory(pkg))
    if share != install / pkg / "share" / pkg:
        sys.exit(f"ament index: share of {pkg} is {share}, expected {install / pkg / 'share' / pkg}")
msg = mpm_msgs.msg.Skeleton3DArray()
assert type(deserialize_message(serialize_message(msg), mpm_msgs.msg.Skeleton3DArray)) is type(msg)
print("colcon_check: imports, ament index and message round trip OK from", install)
EOF

# 5. The installed console script starts the node (torch backend, untrained weights) and reaches
# 'configured'; then SIGINT. Proves the shebang, entry point and install-space imports work.
log="$WS/lift_node.log"
install/mpm_ros/lib/mpm_ros/lift_node --ros-args -p backend:=torch > "$log" 2>&1 &
node_pid=$!
for _ in $(seq 1 120); do
  grep -q "configured: backend torch" "$log" && break
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.5
done
kill -INT "$node_pid" 2>/dev/null || true
wait "$node_pid" 2>/dev/null || true
grep -q "configured: backend torch" "$log" || { tail -20 "$log" >&2; fail "installed lift_node did not configure"; }
say "installed lift_node configured: $(grep -o 'configured: .*' "$log" | head -1)"
say "OK in $(( SECONDS - t0 )) s (workspace $WS)"
