# Platform Analytics API. `make run` serves the API locally; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt | cksum | cut -d' ' -f1)

.PHONY: help venv run test lint bench build clean

help:
	@echo "make run    serve the API with demo data on http://127.0.0.1:3000"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  benchmark the endpoints on a large tenant"
	@echo "make build  sam build (the layer for python3.13 arm64, no Docker)"

$(STAMP):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

run: venv
	$(BIN)/python -m devstack.run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common functions devstack tests bench

test: lint
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python -m bench.run

clean:
	rm -rf .local .aws-sam .pytest_cache .mypy_cache .ruff_cache
