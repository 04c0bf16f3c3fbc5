# Quick start: `make run` (the main job) and `make test` (the test suite). Each sets up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e .
	touch $@

# the main job draws its learning curves (matplotlib) and uses the fused kernels (numba)
$(VENV)/.run: pyproject.toml $(VENV)/.base
	$(PY) -m pip install -q -e '.[plot,fast]'
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: run test
run: $(VENV)/.run
	$(VENV)/bin/rnnlab compare

test: $(VENV)/.test
	RNNLAB_REQUIRE_TORCH=1 $(PY) -m pytest -q
