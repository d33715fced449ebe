# Two commands: `make run` and `make test`. Both install the locked environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8
export RANKCT_HOME ?= $(CURDIR)/var
export PYTHONPATH := $(CURDIR)/plugins:$(PYTHONPATH)

.PHONY: setup run test test-fast lock bench ui lint clean

setup: $(VENV)/.installed

# Reinstall when the lock file or the project metadata changes.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync -q --python $(BIN)/python requirements.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

run: setup
	$(BIN)/rankct demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/scoring.py

lint: setup
	$(BIN)/ruff check plugins jobs dags tests bench

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(RANKCT_HOME)
