# `make test` sets everything up from nothing and runs every check and test.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS := operator,trainer,server,dev

.PHONY: test lint unit controlplane crds run-example clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

controlplane:
	bash tests/controlplane/build-binaries.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

crds: $(VENV)/.installed
	$(VENV)/bin/modelrelease-crdgen --out crds

test: $(VENV)/.installed controlplane lint
	$(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/contract tests/trainer

# Train the example model as a plain process and print its metrics.
run-example: $(VENV)/.installed
	$(VENV)/bin/modelrelease-trainer --config manifests/examples/training-loan-default.yaml \
	  --output .cache/artifacts/loan-default-v1 --termination-log .cache/termination-log

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
