# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch build to install before anything that depends on it. On the project's machines the
# pinned CPU wheel lies on local disk; elsewhere choose e.g. TORCH="torch --index-url ...".
TORCH ?= torch==2.13.0
EXTRAS ?= learn,dist,plot,sim,dev
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed
# The GWAS Catalog's validator (gwas-ssf validate) pins numpy<2 and needs Python 3.11: it lives
# in its own venv, found by the tests at $(SSF_VENV)/bin/gwas-ssf.
SSF_PYTHON ?= python3.11
SSF_VENV ?= .venv-ssf
SSF_STAMP := $(SSF_VENV)/.installed
# glimix-core (the exact multi-trait LMM of benchmarks/bench_loco.py) pins numpy<2 and cffi<2
GLIMIX_VENV ?= .venv-glimix
GLIMIX_STAMP := $(GLIMIX_VENV)/.installed

.PHONY: venv oracles test demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

oracles: $(SSF_STAMP) $(GLIMIX_STAMP)

$(GLIMIX_STAMP):
	test -x $(GLIMIX_VENV)/bin/python || $(SSF_PYTHON) -m venv $(GLIMIX_VENV)
	$(GLIMIX_VENV)/bin/python -m pip install -q "glimix-core==3.1.12" "numpy<2" scipy
	touch $(GLIMIX_STAMP)

$(SSF_STAMP):
	test -x $(SSF_VENV)/bin/python || $(SSF_PYTHON) -m venv $(SSF_VENV)
	$(SSF_VENV)/bin/python -m pip install -q "gwas-sumstats-tools==1.0.25" "numpy<2" "click<8.2" six
	touch $(SSF_STAMP)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv
	$(BIN)/python examples/demo.py --out runs/demo

bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(SSF_VENV) $(GLIMIX_VENV) runs .pytest_cache
