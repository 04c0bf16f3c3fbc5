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

.PHONY: run test fuzz
run: $(VENV)/.run
	$(VENV)/bin/rnnlab compare

test: $(VENV)/.test
	RNNLAB_REQUIRE_TORCH=1 $(PY) -m pytest -q

# long fuzzing of every file reader: RNNLAB_FUZZ_EXAMPLES inputs per reader (PTB twice as many);
# the inputs run and any undocumented exception types go to fuzz-report.jsonl
FUZZ_EXAMPLES ?= 5000
fuzz: $(VENV)/.test
	RNNLAB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RNNLAB_FUZZ_REPORT=fuzz-report.jsonl $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_readers.py
