# Haven: `make run` starts the whole stack locally, `make test` runs every test.
# Both work on a fresh machine with Python 3.11 and nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps-installed
GEN    := lib/haven/__init__.py
PROTOS := $(shell find protos -name '*.proto')
# The editable install maps each top-level package; a new one means reinstalling.
PACKAGES := $(wildcard lib/haven_*/__init__.py services/*/haven_*/__init__.py gateway/haven_*/__init__.py)
PYTEST_ARGS ?=

.PHONY: help install protos run test test-unit test-integration test-e2e lint format migrate clean

help:
	@echo "make run     start PostgreSQL, NATS, S3, the mail sink, the four services and the gateway"
	@echo "make test    install everything and run every test"
	@echo "make protos  regenerate lib/haven from protos/"
	@echo "make lint    ruff (checks and formatting) and mypy"
	@echo "make migrate apply every service's migrations to the running stack"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Dependencies first (grpcio-tools is needed to generate code), then the
# generated package, then the project itself in editable mode.
$(DEPS): pyproject.toml $(PACKAGES) | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q 'grpcio-tools>=1.85,<2'
	$(BIN)/python tools/gen_protos.py
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(GEN): $(PROTOS) tools/gen_protos.py | $(DEPS)
	$(BIN)/python tools/gen_protos.py

install: $(DEPS) $(GEN)

protos: $(DEPS)
	$(BIN)/python tools/gen_protos.py

run: install
	$(BIN)/haven dev run

migrate: install
	$(BIN)/haven migrate

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lib services gateway

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) lib/haven build *.egg-info
	@echo "var/ (your local data and mail) is kept; remove it yourself to start afresh"
