#!/usr/bin/env bash
# Create .venv with pinned ROS 2 (PyPI wheels), torch (CPU) and tools, build mpm_msgs into it
# with plain cmake, and install this project editable. Idempotent: a stamp of the inputs'
# hash makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp_inputs=(requirements.txt requirements.lock setup.py setup.cfg package.xml tools/setup_venv.sh mpm_msgs/CMakeLists.txt mpm_msgs/package.xml mpm_msgs/msg/*.msg)
# Names and contents: a renamed, added or removed .msg changes the hash as much as an edited one.
hash=$(for f in "${stamp_inputs[@]}"; do echo "== $f"; cat "$f"; done | sha256sum | cut -d' ' -f1)
stamp="$VENV/.mpm_setup_stamp"
# The installed interface copies must equal the sources too (a venv restored from elsewhere, a half-done build).
msgs_installed() {
  local f
  for f in mpm_msgs/msg/*.msg; do cmp -s "$f" "$VENV/share/mpm_msgs/msg/$(basename "$f")" || return 1; done
}
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && msgs_installed; then
  echo "setup: $VENV is up to date"
  exit 0
fi

echo "setup: creating $VENV (pinned by requirements.lock)"
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install -q -r requirements.txt -c requirements.lock 2>&1 | grep -v "is ignored: it is neither" || true
# MediaPipe without its opencv-contrib-python requirement (GUI OpenCV needing libGL); requirements.txt pins the
# headless OpenCV and mediapipe's other dependencies, requirements.lock pins mediapipe itself.
"$VENV/bin/python" -m pip install -q --no-deps -c requirements.lock mediapipe 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -c "import torch, rclpy, onnxruntime, rosbags, mediapipe, cv2" || { echo "setup: dependency install failed" >&2; exit 1; }

# The ROS wheels were built under manylinux (/opt/python/cp311-cp311); their exported CMake
# targets point at that interpreter's headers. Point them at this venv's instead.
pyinc=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
npinc=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
{ grep -rl "/opt/python/cp3" "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
  sed -i -E -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${pyinc}#g" \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${npinc}#g" "$f"
done

echo "setup: building mpm_msgs with cmake into $VENV"
venv_abs=$(cd "$VENV" && pwd)
build=build/mpm_msgs
# Remove what the previous build installed (a removed .msg must not live on in the venv), then build from scratch.
if [[ -f "$build/install_manifest.txt" ]]; then xargs -d '\n' rm -f < "$build/install_manifest.txt"; fi
rm -rf "$build" && mkdir -p "$build"
(
  cd "$build"
  export PATH="$venv_abs/bin:$PATH"
  cmake ../../mpm_msgs -DCMAKE_PREFIX_PATH="$venv_abs" -DCMAKE_INSTALL_PREFIX="$venv_abs" \
    -DPython3_EXECUTABLE="$venv_abs/bin/python" -DBUILD_TESTING=OFF > cmake.log 2>&1 \
    || { tail -30 cmake.log >&2; exit 1; }
  make -j"$(nproc)" install > make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
)

"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -c "import rclpy, mpm_msgs.msg, mpm_model, mpm_ros" || { echo "setup: import check failed" >&2; exit 1; }
msgs_installed || { echo "setup: the installed mpm_msgs differ from mpm_msgs/msg/*.msg after the build" >&2; exit 1; }
# BlazePose .task for the camera front end, built offline from the pinned mediapipe 0.10.21 wheel's models.
task="$VENV/share/mpm_ros/models/pose_landmarker_full.task"
[[ -f "$task" ]] || "$VENV/bin/python" -m mpm_model.vision.pose_task --out "$task" || { echo "setup: pose model build failed" >&2; exit 1; }
echo "$hash" > "$stamp"
echo "setup: done"
