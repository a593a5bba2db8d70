# The two ways in: `make demo` (synthetic study, whole pipeline) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
DEMO   ?= demo

.PHONY: setup demo test bench clean lock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml deploy/requirements-ci.txt
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Python 3.11 or 3.12 needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The exact, hash-pinned set (deploy/requirements-ci.txt), then the project itself on top of it.
	$(PY) -m pip install --quiet --require-hashes --no-deps -r deploy/requirements-ci.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	touch $@

demo: setup
	rm -rf $(DEMO)/exports
	$(VENV)/bin/cdiscflow synth --subjects 200 --seed 20171210 --out $(DEMO)/exports
	$(VENV)/bin/cdiscflow nightly --exports $(DEMO)/exports --out $(DEMO)/out

# Full run (CORE off) against the floor of reading the same exports, per stage: benchmarks/results.csv + scaling.png.
N ?= 2000
bench: setup
	$(VENV)/bin/cdiscflow bench --subjects $(N)

# CI=true makes tests that need the CORE engine (Python 3.12) or PostgreSQL/Redis fail instead of skip.
test: setup core-setup browser-setup
	$(PY) -m pytest

# Re-resolve the locks after a change to pyproject.toml's dependencies (needs the package index).
lock:
	$(PY) -m pip install --quiet pip-tools
	$(PY) deploy/lock.py

clean:
	rm -rf $(DEMO) .pytest_cache

include mk/core.mk
include mk/browser.mk
