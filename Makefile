# streamrec: `make help` lists the targets. Every target creates and uses .venv by itself.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-quick lint format bench clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install streamrec with its test tools.

demo: $(STAMP)  ## Run the closed loop on the embedded broker and print the arm comparison.
	$(BIN)/streamrec demo

test: $(STAMP)  ## Lint, then every test: unit, doctests, both real brokers, slow statistics.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -m "slow or not slow"

test-quick: $(STAMP)  ## Unit tests and doctests only: no broker, nothing slow.
	$(BIN)/pytest -m "not slow and not broker"

lint: $(STAMP)  ## Ruff lint and format check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## Reformat the code with ruff.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## Every benchmark in bench/ (numbers and ratios), with the reference libraries.
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/streamrec bench

clean:  ## Remove .venv, caches and the local event log.
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
