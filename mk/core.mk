# CDISC CORE, the open rules engine, in its own Python 3.12 virtualenv (the engine needs 3.12; the
# project runs on 3.11 or 3.12). Included by the Makefile, which defines PY, VENV, DEMO and `setup`.
#
#   make core-setup   create .venv-core with the engine and every dependency pinned (about 30 s)
#   make core-check   XPT + CORE on $(DEMO)/out/current (run `make demo` first); report in $(DEMO)/core/
#   make test-core    the XPT and CORE conformance tests only
#
# CORE_PYTHON: pyenv's 3.12.1 if there is one, else the first python3.12 on PATH; override on the
# command line (make core-setup CORE_PYTHON=/opt/python3.12/bin/python3.12).

CORE_VENV   ?= .venv-core
CORE_PYTHON ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.12.1/bin/python3.12) \
                           $(shell command -v python3.12 2>/dev/null))
CORE_PY      = $(CORE_VENV)/bin/python

# The complete dependency closure of cdisc-rules-engine 0.17.1 as resolved on Python 3.12 (2026-11),
# installed with --no-deps so the engine's environment is exactly this list; `pip check` proves it whole.
CORE_PINS = \
  cdisc-rules-engine==0.17.1 \
  altgraph==0.17.5 attrs==26.1.0 business-rules-enhanced==1.4.8 cachetools==8.0.2 \
  cdisc-library-client==0.1.7 Cerberus==1.3.8 certifi==2026.10.19.post1 charset-normalizer==3.5.3 \
  click==8.5.1 cloudpickle==3.1.3 cramjam==2.14.0 dask==2026.8.0 elementpath==5.1.4 \
  et_xmlfile==2.0.0 fastparquet==2026.9.0 fsspec==2026.9.0 idna==3.20 importlib_metadata==10.2.0 \
  jsonata-python==0.7.1 jsonpath-ng==1.16.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
  lazy-importer==0.1.0 locket==1.0.0 lxml==6.1.3 narwhals==2.29.0 numpy==2.5.5 odmlib==0.2.1 \
  openpyxl==3.1.5 packaging==26.4 pandas==3.1.1 partd==1.4.2 pathvalidate==3.3.1 psutil==7.2.2 \
  pyarrow==26.0.1 pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9 Pympler==1.1 \
  pyreadstat==1.3.7 python-dateutil==4.0.0 python-dotenv==1.2.4 pytz==2026.6 PyYAML==6.0.4 \
  redis==8.1.0 referencing==0.37.0 requests==2.34.2 rpds-py==2026.9.1 setuptools==84.2.1 \
  titlecase==2.4.1 toolz==1.2.0 typing_extensions==4.16.0 tzdata==2026.6 urllib3==2.8.0 \
  validators==0.36.0 xmlschema==4.3.2 zipp==4.1.2

.PHONY: core-setup core-check test-core

core-setup: $(CORE_VENV)/.installed

$(CORE_VENV)/.installed: mk/core.mk
	@test -n "$(CORE_PYTHON)" || { echo "core-setup: no Python 3.12 found; install one (pyenv install 3.12.1) or pass CORE_PYTHON=..."; exit 1; }
	$(CORE_PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "cdisc-rules-engine 0.17.1 needs Python 3.12"'
	rm -rf $(CORE_VENV)
	$(CORE_PYTHON) -m venv $(CORE_VENV)
	$(CORE_PY) -m pip install --quiet --upgrade pip==26.3
	$(CORE_PY) -m pip install --quiet --no-deps $(CORE_PINS)
	$(CORE_PY) -m pip check
	$(CORE_PY) -c 'import cdisc_rules_engine.rules_engine'
	touch $@

core-check: setup core-setup
	$(PY) -m transforms.quality.core $(DEMO)/out/current --report $(DEMO)/core/core.json

test-core: setup core-setup
	$(PY) -m pytest tests/publish/test_xpt.py tests/quality/test_core_conformance.py
