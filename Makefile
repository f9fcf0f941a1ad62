# `make test` sets everything up from nothing and runs every check and test.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS := operator,trainer,server,s3,dev
# Built binaries live outside the checkout, keyed by their pins: every clone reuses them.
export CONTROLPLANE_CACHE ?= $(HOME)/.cache/modelrelease/controlplane

.PHONY: test lint unit controlplane crds run-example clean host-tools images image-trainer-cuda \
  demo demo-down
# What the image builds, the container tests and the real node need from Debian
# (installed when root).
HOST_PACKAGES := podman buildah debootstrap runc containernetworking-plugins iptables iproute2
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
CUDA_BASE ?= nvidia/cuda:12.8.1-runtime-ubuntu24.04

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

# The control plane, kubectl, and a real node's kubelet, kube-proxy and containerd.
controlplane:
	bash tests/controlplane/build-binaries.sh --real-node

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

crds: $(VENV)/.installed
	$(VENV)/bin/modelrelease-crdgen --out crds

# Without podman (and no way to install it) the image builds are skipped here and the
# container tests skip with one line saying so.
test: $(VENV)/.installed controlplane host-tools lint
	if command -v podman >/dev/null; then bash images/build.sh; fi
	$(PY) -m pytest

host-tools:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "not installed (container tests will skip): $$missing"; fi

# The operator, trainer and server images, with podman and a Debian base built here
# (no Docker daemon or registry needed); archives in dist/images/.
images: host-tools
	bash images/build.sh

# The GPU trainer: the trainer's Dockerfile on a CUDA base, with XGBoost's CUDA build.
image-trainer-cuda:
	podman build -f training-image/Dockerfile --build-arg BASE=$(CUDA_BASE) \
	  --build-arg XGBOOST=xgboost -t ghcr.io/modelrelease/trainer-cuda:$(VERSION) .

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/contract tests/trainer

# The product at work: a local cluster with a real node (left running in the
# background), the operator installed as users install it, two trainings, live traffic,
# and a release watched stage by stage. SCENARIO=rollback: a drifting candidate.
SCENARIO ?= promote
demo: $(VENV)/.installed controlplane host-tools
	$(PY) -m demo --scenario $(SCENARIO)

demo-down: $(VENV)/.installed
	$(PY) -m demo down

# Train the example model as a plain process and print its metrics.
run-example: $(VENV)/.installed
	$(VENV)/bin/modelrelease-trainer --config manifests/examples/training-loan-default.yaml \
	  --output .cache/artifacts/loan-default-v1 --termination-log .cache/termination-log

clean:
	rm -rf $(VENV) .cache dist .pytest_cache .mypy_cache .ruff_cache
