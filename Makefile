# Sync vs Async Python, measured.  `make lab` to learn, `make test` to check.
# Every target sets up .venv first (only when pyproject.toml or the lock changed).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
NB     := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: help setup lab test test-browser outputs bench lock check-python clean

help:
	@echo "make lab      set up .venv if needed, then open JupyterLab on the course"
	@echo "make test     set up, then every test (unit tests, nbval, Run-All) in quick mode"
	@echo "make setup    only create/refresh .venv with the pinned packages"
	@echo "make outputs  re-run every notebook top to bottom in full mode and save its outputs"
	@echo "make bench    print the harness benchmark (load generator limits)"
	@echo "make test-browser  click Run All in JupyterLab in headless Chromium (needs chromium, node, npm)"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml (needs the registry)"

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; ok = (3, 10) <= v <= (3, 13); \
	  print("Using Python %d.%d from %s" % (v + (sys.executable,))) if ok else \
	  sys.exit("This course needs Python 3.10 to 3.13, but $(PYTHON) is %d.%d. Run for example: make lab PYTHON=python3.12" % v)'

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(MAKE) --no-print-directory check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	@touch $(STAMP)

lab: setup
	@echo "Opening JupyterLab on the course; the URL to open is printed below (Ctrl-C twice to stop)."
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
	  --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00-start-here.ipynb \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	COURSE_MODE=quick $(BIN)/python -m pytest tests $(NB) --nbval \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=240 -q -rfEs

test-browser: setup
	$(BIN)/python scripts/browser_run_all.py

outputs: setup
	COURSE_MODE=full $(BIN)/python scripts/execute_notebooks.py $(NB)

bench: setup
	$(BIN)/python scripts/bench_harness.py

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.10 \
	  --no-header -o requirements.lock

clean:
	rm -rf $(VENV) results .pytest_cache
