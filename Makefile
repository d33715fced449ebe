# Two commands: `make run` and `make test`. Both install the locked environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8
export RANKCT_HOME ?= $(CURDIR)/var
export PYTHONPATH := $(CURDIR)/plugins:$(PYTHONPATH)

.PHONY: setup setup-gcp run test test-fast lock lock-gcp bench ui lint clean browser stack stack-down

setup: $(VENV)/.installed

# Reinstall when the lock file or the project metadata changes.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	# Bytecode compiled once here: every Airflow task, Spark job and Feast call is a new
	# interpreter, and without .pyc files (PYTHONDONTWRITEBYTECODE, read-only trees) each one
	# would compile thousands of modules again (about 10 s a process).
	$(UV) pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# The GCP emulators (BigQuery, Cloud Storage) in an environment of their own: bqemulator pins
# protobuf 6.x and the Airflow environment has 7.x. rankct starts them as subprocesses
# (`rankct gcp emulators up`, the tests' fixture) through emulators/launch.py.
GCP_VENV := .venv-gcp
setup-gcp: $(GCP_VENV)/.installed

$(GCP_VENV)/.installed: emulators/requirements.lock $(VENV)/.installed
	test -x $(GCP_VENV)/bin/python || $(PYTHON) -m venv --without-pip $(GCP_VENV)
	# Compiled here: where PYTHONDONTWRITEBYTECODE is set (this machine), compiling their 3,000
	# modules (sqlglot, duckdb) at every start takes over a minute on a loaded 2-core machine.
	$(UV) pip sync -q --compile-bytecode --python $(GCP_VENV)/bin/python emulators/requirements.lock
	touch $@

lock-gcp: setup
	$(UV) pip compile -q emulators/requirements.in --python-version 3.11 -o emulators/requirements.lock

# Simulate two weeks, run the training DAG for each day through `airflow dags test`, then
# batch scoring and monitoring, and print the summary (state under $(RANKCT_HOME)).
run: setup
	$(BIN)/rankct demo

# The Airflow, MLflow and Evidently UIs over the state `make run` wrote.
ui: setup
	$(BIN)/rankct ui

# The production profile's services as processes of this machine (README, "Production profile
# on one machine"): Spark master + 2 workers, Airflow on PostgreSQL, MLflow server, Evidently.
EXECUTOR ?= local
stack: setup
	$(BIN)/rankct stack up --profile prod --executor $(EXECUTOR)

stack-down: setup
	$(BIN)/rankct stack down --profile prod

# Debian's Chromium for the browser test (Playwright drives it; its own download is not used).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { echo "could not install chromium: the browser test needs $(CHROMIUM)"; exit 1; }; }

# The suite on two workers (pytest-xdist): the end-to-end runs spend much of their time waiting
# on the processes they start, which the other worker's tests use.
TEST_WORKERS ?= 2
test: setup setup-gcp browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-fast: setup setup-gcp
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow"

bench: setup
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/prod_profile.py

lint: setup
	$(BIN)/ruff check plugins jobs dags tests bench

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(RANKCT_HOME)
