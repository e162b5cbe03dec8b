# Everything runs in a local virtual environment, .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1

.PHONY: setup test lint quickstart bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	$(BIN)/python -m pytest -q

quickstart: setup
	$(BIN)/python recipes/quickstart.py

bench: setup
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/grader_throughput.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
