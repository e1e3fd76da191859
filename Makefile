# Two entry points for a fresh machine: `make demo` (set up, then build the demo graph) and
# `make test` (set up, then run the tests). Set-up is shared and happens once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= out/demo.db

.PHONY: setup demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python builds from source here (a few minutes, once).
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	rm -f $(DEMO_STORE)
	$(BIN)/shelfgraph ingest data/demo/catalog.jsonl data/demo/labelled.jsonl --taxonomy data/demo/taxonomy --store $(DEMO_STORE)
	$(BIN)/shelfgraph stats --store $(DEMO_STORE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out runs
