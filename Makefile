# One entry point. `make demo` and `make test` bootstrap everything they need via `make setup`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DATA ?= ../shared/data/mocap_h36m17_train.npz

.PHONY: setup test demo demo-camera train bench clean

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

demo: setup
	@bash tools/demo.sh

# Camera → 2D → 3D on rendered mocap test clips (offline): accuracy/latency report + overlay PNGs in out/demo_camera.
demo-camera: setup
	@export ROS_DOMAIN_ID=$$(( RANDOM % 100 + 1 )) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1 \
	  ROS_HOME=$${ROS_HOME:-$$(mktemp -d)} GLOG_minloglevel=2; $(PY) -m mpm_ros.camera_demo --out out/demo_camera

# Real-data training of the shipped models and baselines (resumable; docs/MODEL_CARD.md), then ship them.
train: setup
	@$(PY) tools/train_real.py --data $(DATA) && $(PY) tools/train_real.py --ship

bench: setup
	@$(PY) -m mpm_model.deploy.bench

clean:
	rm -rf build out .pytest_cache
