# Sync vs Async Python, measured.  `make lab` to learn, `make test` to check.
# Every target sets up .venv first (only when pyproject.toml or the lock changed).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
NB     := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: help setup lab test test-browser outputs bench bench-switch lock wheels check-python clean

help:
	@echo "make lab      set up .venv if needed, then open JupyterLab on the course (PORT=8888 by default;"
	@echo "              if the course is already open, prints its address instead)"
	@echo "make test     set up, then every test (unit tests, nbval, Run-All) in quick mode"
	@echo "make setup    only create/refresh .venv with the pinned packages"
	@echo "make outputs  re-run every notebook top to bottom in full mode and save its outputs"
	@echo "make bench    print the harness benchmark (load generator limits, each server's ceiling, the ratio to wrk)"
	@echo "make bench-switch  print the cost of one switch, every way, side by side (threads, processes, loops, greenlets)"
	@echo "make test-browser  click Run All in JupyterLab in headless Chromium (needs chromium, node, npm)"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml (needs the registry)"
	@echo "make wheels   check every pin has a binary wheel on every supported Python (needs the registry)"

# The supported Pythons are written once, in pyproject.toml's requires-python (">=3.A,<3.B");
# this reads them there with a regex (no tomllib on 3.10), so it also runs on older Pythons.
check-python:
	@$(PYTHON) -c 'import re, sys; \
	  lo, hi = map(int, re.search(r"^requires-python *= *\">= *3\.(\d+) *, *< *3\.(\d+) *\"", open("pyproject.toml").read(), re.M).groups()); \
	  v = tuple(sys.version_info[:2]); need = "Python 3.%d to 3.%d" % (lo, hi - 1); \
	  sys.stdout.write("Using Python %d.%d from %s\n" % (v + (sys.executable,))) if (3, lo) <= v < (3, hi) else \
	  sys.exit("This course needs %s, but $(PYTHON) is %d.%d. Run for example: make lab PYTHON=python3.%d" % ((need,) + v + (hi - 2,)))'

setup: $(STAMP)

# JupyterLab's settings for the course (no "Jupyter news" pop-up, no update check: the course is
# offline) go in the venv's own overrides.json, so a learner's settings elsewhere are untouched;
# the kernels' config (a NameError from a cell run out of order says what to do) in its etc/ipython.
$(STAMP): pyproject.toml requirements.lock scripts/jupyterlab-overrides.json scripts/ipython_kernel_config.py
	@$(MAKE) --no-print-directory check-python
	@test -f $(STAMP) || echo "First-time install into $(VENV): about a minute (later runs skip it)."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp scripts/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@mkdir -p $(VENV)/etc/ipython
	@cp scripts/ipython_kernel_config.py $(VENV)/etc/ipython/ipython_kernel_config.py
	@touch $(STAMP)

lab: setup
	@if $(BIN)/python scripts/running_lab.py notebooks; then exit 0; fi; \
	echo "Opening JupyterLab on the course; the URL to open is printed below (Ctrl-C twice to stop)."; \
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
	  --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00-start-here.ipynb \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	COURSE_MODE=quick COURSE_PROGRESS=off $(BIN)/python -m pytest tests $(NB) --nbval \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=240 -q -rfEs

test-browser: setup
	$(BIN)/python scripts/browser_run_all.py

outputs: setup
	COURSE_MODE=full COURSE_PROGRESS=off $(BIN)/python scripts/execute_notebooks.py $(NB)

bench: setup
	$(BIN)/python scripts/bench_harness.py

bench-switch: setup
	$(BIN)/python scripts/bench_switch.py

# Universal: one lock for every supported Python (from requires-python's lower bound up) and
# platform; [tool.uv] in pyproject.toml holds the per-platform pins that keep it wheel-only.
lock:
	$(BIN)/python -m pip install --quiet uv
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile pyproject.toml --extra test --universal \
	  --python-version $(shell sed -n 's/^requires-python *= *">= *\(3\.[0-9]*\).*/\1/p' pyproject.toml) \
	  --no-header -o requirements.lock
	@echo "Checking that every pin has a binary wheel (make wheels):"
	$(BIN)/python scripts/check_wheels.py

wheels: setup
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python scripts/check_wheels.py

clean:
	rm -rf $(VENV) results .pytest_cache
