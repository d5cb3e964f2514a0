# Two commands for a fresh machine: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup run test test-fast browser clean-cache

setup:
	@bash scripts/setup.sh

## The main job on the built-in default models: the web playground (prints its URL).
run: setup
	@$(BIN)/llmpg ui

## The whole test suite (real models included; the first run converts them into the cache once).
test: setup
	@bash scripts/install-browser.sh
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

## Everything but the tests marked slow (no real model needed).
test-fast: setup
	@$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

clean-cache:
	rm -rf "$${LLMPG_HOME:-$$HOME/.cache/llm-playground}/models"
