# One command per habit. `make demo` and `make test` each do the whole set-up first:
# a virtual environment, the project installed into it, a Chromium for Playwright.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-engine lint typecheck check browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

browser: $(STAMP)
	$(PY) -m bots.ops.browser_setup

demo: browser  ## the demo overnight batch against the bundled mock portals
	$(VENV)/bin/payerbot demo

# Two pytest-xdist workers, a test file per work unit, the slowest files first: see
# tests/parallel.py (and what a test must do to run there).
PYTEST_WORKERS ?= 2

test: browser  ## the whole test suite (real Chromium against the mock portals)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadscope --durations=30

test-engine: $(STAMP)  ## the engine's policy tests: a scripted portal, no browser, seconds
	$(VENV)/bin/pytest tests/engine -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check bots flows benchmarks tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test  ## set up, lint, type-check, then the whole suite (what CI runs)

clean:
	rm -rf $(VENV) var
