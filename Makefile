# Two entry points do all set-up on a fresh machine:
#   make demo  - the workbench (JupyterLab on notebooks/, bundled data)
#   make test  - the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test report bench venv clean reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[workbench,serve,dask,docs,test]'
	touch $(STAMP)

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

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache
