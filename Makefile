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

# Until the model and service exist, the main job builds the corpus and prints its report.
demo: $(STAMP)
	$(BIN)/conflict-tagger data build
	$(BIN)/conflict-tagger data report

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
