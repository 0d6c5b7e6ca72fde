# pullfix — every target sets up its own virtual environment on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# What each target needs: the demo only the package, the checks the development tools too.
DEMO_STAMP := $(VENV)/.pullfix-demo
DEV_STAMP  := $(VENV)/.pullfix-dev
# The functions' runtime alone, as Cloud Functions installs it from requirements.txt: the
# benchmark's cold start runs there (the test tools would add imports production never has),
# on the functions' Python (python312, terraform/functions.tf) where the machine has it.
RUNTIME        ?= .venv-runtime
RUNTIME_STAMP  := $(RUNTIME)/.pullfix-runtime
# (A pyenv shim that names a version not selected fails to run: each candidate is tried.)
RUNTIME_PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; \
	do $$p -c '' 2>/dev/null && { echo $$p; exit; }; done; echo $(PYTHON))

# pytest's worker processes (pytest-xdist): each test waits mostly on a server, a subprocess
# or an emulator, so more workers than cores pay; `make test TEST_WORKERS=0` runs in one.
# Work stealing: a worker that runs out takes tests queued behind another's slow one (the
# emulators' redelivery tests wait out Pub/Sub's ack deadline), which cut the run by a quarter.
TEST_WORKERS ?= 4

.PHONY: demo test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 14), "pullfix needs Python 3.11-3.13"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/pullfix demo

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(DEV_STAMP)
	$(BIN)/ruff check functions tests bench
	$(BIN)/ruff format --check functions tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

$(RUNTIME_STAMP): functions/requirements.txt Makefile
	rm -rf $(RUNTIME)
	$(RUNTIME_PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/python -m pip install --quiet -r functions/requirements.txt
	@touch $@

bench: $(DEV_STAMP) $(RUNTIME_STAMP)
	PULLFIX_BENCH_RUNTIME=$(abspath $(RUNTIME))/bin/python $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(RUNTIME) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
