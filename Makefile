# dppnas: `make demo` runs the quickstart search, `make test` runs the tests.
# Torch is installed first from TORCH_SPEC so that pip does not pull the CUDA build on a CPU
# machine; GPU users: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
# Every other package is pinned by constraints.txt to the versions the suite last passed with
# (pyproject keeps compatible ranges). `make test-latest` runs the suite on the newest releases
# in .venv-latest; `make lock` then rewrites constraints.txt from it (a deliberate upgrade).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
LATEST := .venv-latest

.PHONY: demo test lint install install-test test-latest lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) pip setuptools wheel

install: $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) $(TORCH_SPEC)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --no-build-isolation -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) $(TORCH_SPEC)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --no-build-isolation -e ".[dev]"

demo: install
	$(BIN)/dppnas search experiments/quickstart.yaml

test: install-test
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The newest releases that pyproject's ranges admit (torch still from TORCH_SPEC), not in CI.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip setuptools wheel
	$(LATEST)/bin/pip install -q $(TORCH_SPEC)
	$(LATEST)/bin/pip install -q --upgrade --upgrade-strategy eager -e ".[dev]"
	$(LATEST)/bin/python -m pytest -q

# After `make test-latest` passed: pin what it ran with (torch stays with TORCH_SPEC).
lock:
	@test -x $(LATEST)/bin/pip || { echo "make lock: run make test-latest first" >&2; exit 2; }
	{ echo "# Versions the test suite passed with (written by make lock; Python 3.11)."; \
	  echo "# torch is pinned by TORCH_SPEC in the Makefile, not here."; \
	  $(LATEST)/bin/pip freeze --all --exclude-editable | grep -viE '^(torch|dppnas)=='; \
	} > $(CONSTRAINTS).tmp && mv $(CONSTRAINTS).tmp $(CONSTRAINTS)

clean:
	rm -rf $(VENV) $(LATEST) runs .pytest_cache
