# Quick start: `make run` (the main job) and `make test` (the test suite). Each sets up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# the compiled cell engine (rnnlab/engine/_cells.c) is built by the install: rebuild when it changes
ENGINE_SOURCES := setup.py rnnlab/engine/_cells.c rnnlab/engine/_cells_impl.h

$(VENV)/.base: pyproject.toml $(ENGINE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e .
	touch $@

# the main job draws its learning curves (matplotlib)
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
	RNNLAB_REQUIRE_TORCH=1 RNNLAB_REQUIRE_ENGINE=1 $(PY) -m pytest -q
