# One entry point. `make demo` and `make test` bootstrap everything they need via `make setup`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DATA ?= ../shared/data/mocap_h36m17_train.npz

.PHONY: setup test demo demo-rgbd demo-camera train bench bench-models bench-backends bench-node clean

setup:
	@bash tools/setup_venv.sh

# ROS isolation: a random domain, localhost-only discovery and a private ROS_HOME per run, so two
# test runs on one machine never see each other's topics. pytest exit 5 (no tests) is a failure.
test: setup
	@export ROS_DOMAIN_ID=$$(( RANDOM % 100 + 1 )) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1 \
	  ROS_HOME=$$(mktemp -d) PYTHONUNBUFFERED=1; \
	echo "test: ROS_DOMAIN_ID=$$ROS_DOMAIN_ID ROS_HOME=$$ROS_HOME"; \
	$(PY) -m pytest test -ra $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test: pytest collected no tests — failing" >&2; exit 1; fi; exit $$rc

# Options shared by `make demo` and `make bench-node`, from make or environment variables of these names.
PIPELINE_ARGS = $(if $(CHECKPOINT),--checkpoint "$(CHECKPOINT)") $(if $(DURATION),--duration $(DURATION)) \
  $(if $(FPS),--fps $(FPS)) $(if $(OUT),--out "$(OUT)")
# Node parameters of the demos (SET="smoothing=true depth_wait=0.05"); the benchmark runs the node's defaults.
DEMO_ARGS = $(PIPELINE_ARGS) $(foreach p,$(SET),--set $(p)) $(if $(PEOPLE),--people $(PEOPLE))

# Bundled clip → rosbag → lift_node subprocess ← replay + record → report, offline, in out/demo (mpm_ros/harness/pipeline.py;
# ROS isolated there). Overrides: make demo CHECKPOINT=name|path PEOPLE=4 DURATION=5 FPS=15 OUT=dir SET="smoothing=true"
demo: setup
	@$(PY) -m mpm_ros.harness.pipeline demo $(DEMO_ARGS)

# Placement without and with depth (use_depth) through the node on a rendered RGB-D bag (make_bag --rgbd):
# table + placement.json in out/demo_rgbd (docs/PLACEMENT.md; ROS isolated there). Overrides as for demo.
demo-rgbd: setup
	@$(PY) -m mpm_ros.harness.pipeline rgbd $(DEMO_ARGS)

# Camera → 2D → 3D on rendered mocap test clips (offline): accuracy/latency report + overlay PNGs in out/demo_camera.
demo-camera: setup
	@export ROS_DOMAIN_ID=$$(( RANDOM % 100 + 1 )) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1 \
	  ROS_HOME=$${ROS_HOME:-$$(mktemp -d)} GLOG_minloglevel=2; $(PY) -m mpm_ros.harness.camera_demo --out out/demo_camera

# Training of the shipped models and their baselines: the campaign's full plan (mpm_model/training/plans.py) for
# TRAIN_MIN wall-clock minutes on this machine's device (rerun to continue: each call is a round; docs/TRAINING.md),
# then the plan's shipped runs into mpm_model/weights/.
TRAIN_MIN ?= 180
TRAIN_OUT ?= out/train
train: setup
	@$(PY) -m mpm_model.training.campaign --plan full --data $(DATA) --out $(TRAIN_OUT) --state $(TRAIN_OUT)_state \
	  --budget-min $(TRAIN_MIN) && $(PY) -m mpm_model.training.campaign --plan full --ship --out $(TRAIN_OUT) \
	  --state $(TRAIN_OUT)_state

# The two tables of the README, one run: node vs bare infer() (bench-node), then MPM vs the reference MPM (given
# REFERENCE_DIR=<checkout of vvirgooo2/MPM>, outside this repo) vs the TCN baseline (bench-models); out/bench/.
bench: bench-node bench-models

# Node end to end vs bare infer() of the same backend, 1 and 10 tracks at 30 Hz, in out/bench (TRACKS="1 4 10" etc.).
bench-node: setup
	@$(PY) -m mpm_ros.harness.pipeline bench $(PIPELINE_ARGS) $(if $(TRACKS),--tracks "$(TRACKS)") $(if $(RUNS),--runs $(RUNS))

bench-models: setup
	@mkdir -p out/bench && $(PY) -m mpm_model.deploy.bench_models $(if $(REFERENCE_DIR),--reference-dir "$(REFERENCE_DIR)") \
	  --json-out out/bench/models.json --markdown-out out/bench/models.md

# Per backend x window x batch latency of bare infer() (torch, onnxruntime; TensorRT where installed).
bench-backends: setup
	@$(PY) -m mpm_model.deploy.bench

# Training pack of $(DATA) in travel/ (ignored by git, carried to the GPU machine), and what would travel there:
# tracked + untracked-not-ignored + travel/; fails above 60 MiB (docs/TRAINING.md).
.PHONY: pack travel
pack: setup
	@$(PY) -m mpm_model.data.pack $(DATA) travel/mocap_train.pack

travel:
	@$(PY) tools/travel.py

clean:
	rm -rf build out .pytest_cache
