# The two ways in: `make demo` (synthetic study, whole pipeline) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
DEMO   ?= demo

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Python 3.11 or 3.12 needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
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
test: setup core-setup
	$(PY) -m pytest

clean:
	rm -rf $(DEMO) .pytest_cache

include mk/core.mk
