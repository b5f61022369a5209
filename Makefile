# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck install clean bench bento

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,ray]'
	touch $(STAMP)

install: $(STAMP)

MODEL := runs/default/model
ARTIFACT := runs/default/artifact
PORT ?= 3000

# The main job: train the default model if it is not there yet (resumable: rerun after an
# interruption), export it (ONNX fp32 + int8, parity checked), register it in the BentoML
# model store (promoted if nothing is in production), serve it on localhost, tag a sample
# article through the HTTP API and print the demo page's address. Ctrl-C stops the service.
demo: $(STAMP) $(ARTIFACT)/manifest.json
	$(BIN)/conflict-tagger demo --artifact $(ARTIFACT) --port $(PORT)

# A retrained model gets a new artifact; registered versions stay in the store.
$(ARTIFACT)/manifest.json: runs/default/finished.json
	rm -rf $(ARTIFACT)
	$(BIN)/conflict-tagger export $(MODEL) $(ARTIFACT)

runs/default/finished.json: $(STAMP) configs/default.yaml
	mkdir -p data/work
	$(BIN)/conflict-tagger data report > data/work/report.md
	@echo "data report: data/work/report.md"
	$(BIN)/conflict-tagger train configs/default.yaml --output runs/default

# The service and the production model as a bento (see README: Container image); promote a
# model first (`make demo` does, for the default one).
bento: $(STAMP)
	$(BIN)/bentoml build

lint: $(STAMP)
	$(BIN)/ruff check serving training benchmarks tests
	$(BIN)/ruff format --check serving training benchmarks tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The demo page's test drives Debian's headless Chromium (needs root to install once).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -q && apt-get install -y -q chromium chromium-driver

test: lint typecheck $(CHROMIUM)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m 'not slow'

# The performance benchmark (about 12 min, machine otherwise idle): writes
# benchmarks/performance.md and .json from the default model's artifact.
bench: $(STAMP) $(ARTIFACT)/manifest.json
	$(BIN)/python -m benchmarks.run --artifact $(ARTIFACT) --model $(MODEL) --json benchmarks/performance.json

clean:
	rm -rf $(VENV) data/work .pytest_cache .mypy_cache .ruff_cache
