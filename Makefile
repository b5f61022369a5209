# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

MODEL := runs/default/model

# Until the service exists, the main job builds the corpus, trains the default model if it
# is not there yet (resumable: rerun after an interruption), and tags a sample article.
demo: $(STAMP) runs/default/finished.json
	$(BIN)/conflict-tagger tag --model $(MODEL) - < data/samples/article.txt

runs/default/finished.json: $(STAMP) configs/default.yaml
	mkdir -p data/work
	$(BIN)/conflict-tagger data report > data/work/report.md
	@echo "data report: data/work/report.md"
	$(BIN)/conflict-tagger train configs/default.yaml --output runs/default

lint: $(STAMP)
	$(BIN)/ruff check serving training tests
	$(BIN)/ruff format --check serving training tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m 'not slow'

clean:
	rm -rf $(VENV) data/work .pytest_cache .mypy_cache .ruff_cache
