# Platform Analytics API. `make run` serves the API locally; `make test` runs every test.
PYTHON ?= python3
# VENV: another interpreter's venv side by side, e.g. `make test PYTHON=python3.13 VENV=.venv-3.13`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt | cksum | cut -d' ' -f1)

# checkov (template.yaml's security checks; each skip is justified in the template next to its resource) lives
# in its own venv: it pins boto3 to a version other than requirements-dev.txt's.
CHECKOV_VENV := .local/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: help venv run test static lint check pr bench bench-scale load fuzz burst build clean

help:
	@echo "make run    serve the API with demo data on http://127.0.0.1:3000, its dashboard and docs on :3001"
	@echo "make test   lint, type-check and run every test (the browser suite needs Debian's chromium)"
	@echo "make check  the pre-merge gate (alias make pr): format, lint, complexity, types, repeats,"
	@echo "            OpenAPI breaking changes against the last release, the fast tests"
	@echo "make bench  benchmark the endpoints on tenants of three data shapes, uncached and cached"
	@echo "make bench-scale  one tenant at 1M, 5M and 20M memberships: time and memory growth per endpoint"
	@echo "make load   32 clients, 5,000 requests on the local stack: errors, latency, connections, memory"
	@echo "make fuzz   Schemathesis on openapi.yaml against the local stack, every check on"
	@echo "make burst  one frontend user bursting: what the limits leave the other users and tenants"
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
	$(BIN)/python -m devstack.run $(ARGS)

# Format, lint (complexity included: pyproject selects C90) and types: what `lint` and `check` both run.
static: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	@# For the venv's own Python (3.11 in .venv, 3.13 in .venv-3.13): packages resolved for a newer Python
	@# (numpy's stubs) may use syntax that an older target rejects.
	$(BIN)/mypy --python-version "$$($(BIN)/python -c 'import sys; print(*sys.version_info[:2], sep=".")')" \
		layers/common functions devstack tests tools bench loadtest

lint: static $(CHECKOV)
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

test: lint
	$(BIN)/python -m pytest

# The fast tests: no database engine and no external tool (the markers of pyproject.toml).
FAST_TESTS ?= -m "not engines and not tools"

# What a reviewer runs before a merge (README "Before a merge"). `duplicates` is a command of the
# developer machines, not a package any project file can install: where it is missing (a fresh
# machine, possibly CI) the repeat check says so in one line and is skipped.
check: static
	@if command -v duplicates >/dev/null 2>&1; then $(BIN)/python -m tools.repeat_check; \
	else echo "repeat check skipped: the duplicates command is not installed on this machine"; fi
	$(BIN)/python -m tools.openapi_diff
	$(BIN)/python -m pytest -q $(FAST_TESTS)

pr: check

# Each starts its own stack (in .local/load/, any free port on 127.0.0.1) and exits 1 if a requirement fails.
load: venv
	$(BIN)/python -m loadtest.load $(ARGS)

fuzz: venv
	$(BIN)/python -m loadtest.fuzz $(ARGS)

burst: venv
	$(BIN)/python -m loadtest.burst $(ARGS)


$(CHECKOV): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# SAM CLI lives in its own venv: it pins boto3 and cfn-lint to versions other than requirements-dev.txt's.
SAM_VENV := .local/sam-cli
SAM := $(SAM_VENV)/bin/sam

$(SAM): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# No Docker and no local python3.13 needed: every resource builds with layers/common/Makefile
# (arm64 wheels fetched by pip; .pyc compiled by a CPython 3.13 when one is found). Then `sam deploy --guided`.
build: venv $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --template template.yaml
	SAM_CLI_TELEMETRY=0 PYTHON="$(abspath $(BIN)/python)" $(SAM) build --parallel --template template.yaml

bench: venv
	$(BIN)/python -m bench.run $(ARGS)

bench-scale: venv
	$(BIN)/python -m bench.scale $(ARGS)

clean:
	rm -rf .local .aws-sam .pytest_cache .mypy_cache .ruff_cache
