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

$(VENV)/.docs: pyproject.toml $(VENV)/.base
	$(PY) -m pip install -q -e '.[docs]'
	touch $@

# MathJax from the npm registry, served with the site (the site loads nothing from other hosts)
MATHJAX := 3.2.2
docs/javascripts/mathjax/tex-chtml.js:
	mkdir -p build/mathjax
	cd build/mathjax && npm pack --silent mathjax@$(MATHJAX) && tar xzf mathjax-$(MATHJAX).tgz
	rm -rf docs/javascripts/mathjax && cp -r build/mathjax/package/es5 docs/javascripts/mathjax

.PHONY: run test fuzz docs docs-check
run: $(VENV)/.run
	$(VENV)/bin/rnnlab compare

test: $(VENV)/.test
	RNNLAB_REQUIRE_TORCH=1 RNNLAB_REQUIRE_ENGINE=1 $(PY) -m pytest -q

# long fuzzing of every file reader: RNNLAB_FUZZ_EXAMPLES inputs per reader (PTB twice as many);
# the inputs run and any undocumented exception types go to fuzz-report.jsonl
FUZZ_EXAMPLES ?= 5000
fuzz: $(VENV)/.test
	RNNLAB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RNNLAB_FUZZ_REPORT=fuzz-report.jsonl $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_readers.py

# the site in site/: the notebooks executed into docs/generated, then mkdocs with warnings as errors
docs: $(VENV)/.docs docs/javascripts/mathjax/tex-chtml.js
	$(PY) docs/render_notebooks.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# every page opened in headless chromium (Debian's, installed here where missing); screenshots in docs-screenshots/
docs-check: docs
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(PY) docs/check_site.py site docs-screenshots
