# Two entry points do all set-up on a fresh machine:
#   make demo  - the workbench (JupyterLab on notebooks/, bundled data)
#   make test  - the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test report bench bench-page docs venv clean reliability

# The C extensions are compiled by the editable install: a changed source rebuilds them.
$(STAMP): pyproject.toml $(wildcard layerlab/*.c layerlab/*/*.c)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[workbench,serve,dask,docs,test]'
	touch $(STAMP)
	@echo "layerlab is $(VENV)/bin/layerlab; run 'source $(VENV)/bin/activate' to call it as layerlab"

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/layerlab workbench

report: $(STAMP)
	$(VENV)/bin/layerlab report --out build/report

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# the fuzz and fault suites alone; prints build/reliability.json (inputs tried, faults injected, outcomes)
reliability: $(STAMP)
	$(PY) -m pytest tests/test_fuzz_*.py tests/test_faults_*.py -q $(PYTEST_ARGS)
	@cat build/reliability.json

# Every benchmark records its figures in build/bench/; the page is written from them.
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done
	$(PY) benchmarks/write_page.py

# Rewrite docs/benchmarks.md and the README's results table from the records already in build/bench/.
bench-page: $(STAMP)
	$(PY) benchmarks/write_page.py

# The documentation site, built into build/site (open build/site/index.html).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

clean:
	rm -rf $(VENV) build .pytest_cache
