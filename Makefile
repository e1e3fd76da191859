# Two entry points for a fresh machine: `make demo` (set up, then build the demo graph) and
# `make test` (set up, then run the tests). Set-up is shared and happens once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= out/demo.db
# The demo grows the graph for the first 30 catalogue products (about 10 minutes on 2 cores with
# the embedded model); `make demo DEMO_ARGS=` runs all 200. A second run resumes / does no work.
DEMO_ARGS ?= --limit 30
# At the end, one product's facts with the spans they were read from, and what to try next.
DEMO_PRODUCT ?= demo-021

.PHONY: setup demo test browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# CPU torch first (an unpinned torch pulls a multi-GB CUDA build): the CPU wheel from pip's
	# find-links where this machine has one, else from PyTorch's CPU index.
	$(BIN)/pip install -q --no-index --no-deps 'torch==2.13.0+cpu' 2>/dev/null || \
		$(BIN)/pip install -q 'torch==2.13.0+cpu' --extra-index-url https://download.pytorch.org/whl/cpu
	# llama-cpp-python builds from source here (a few minutes, once). Every extra (ray, langchain,
	# rdf, plots, server, tune) installs with torch pinned so pip cannot swap it for CUDA's.
	$(BIN)/pip install -q -e '.[all,dev]' torch==2.13.0
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/shelfgraph build data/demo/catalog.jsonl --taxonomy data/demo/taxonomy \
		--labelled data/demo/labelled.jsonl --config data/demo/build.toml --store $(DEMO_STORE) \
		--method hybrid $(DEMO_ARGS)
	$(BIN)/shelfgraph stats --store $(DEMO_STORE)
	$(BIN)/shelfgraph show $(DEMO_PRODUCT) --store $(DEMO_STORE)
	@echo "Next, try:"
	@echo "  $(BIN)/shelfgraph ask 'How many coffees per brand?' --store $(DEMO_STORE)"
	@echo "  $(BIN)/shelfgraph review --store $(DEMO_STORE)"
	@echo "  $(BIN)/shelfgraph extract data/demo/catalog.jsonl --labelled data/demo/labelled.jsonl --out out/values.csv"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The web tests drive a headless Chromium (Debian's chromium + chromium-driver). Installed here
# when missing and we are root with apt; otherwise those tests skip and say why. Never fails.
browser:
	@if command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
		  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } || \
		echo "could not install chromium: the browser tests will skip"; \
	else echo "no chromedriver (install chromium and chromium-driver): the browser tests will skip"; fi

clean:
	rm -rf $(VENV) out runs
