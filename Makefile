# refserver — every task in one place. `make` alone lists them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench migrate seed clean fuzz

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

# two stamps: $(RUNTIME) = what the server needs (make run), $(STAMP) = that plus the dev tools
$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q app  # bytecode cached even where PYTHONDONTWRITEBYTECODE is set
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install refserver with its dev tools

# the dashboard test drives Debian's Chromium (never a browser downloaded by a test tool)
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: Debian's chromium is not installed; the dashboard browser test will be skipped"; fi

run: $(RUNTIME) ## start the server (SQLite under ./data, demo data) on :8000 and broker WS on :8001 (runtime deps only)
	$(BIN)/refserver serve

test: $(STAMP) | $(CHROMIUM) ## run the whole suite (PostgreSQL half when TEST_DATABASE_URL is set)
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy strict on app/
	$(BIN)/ruff check app tests bench examples
	$(BIN)/ruff format --check app tests bench examples
	$(BIN)/mypy

fuzz: $(STAMP) ## schemathesis over /openapi.json of a demo server, every family (FUZZ_EXAMPLES per operation)
	$(BIN)/python -m tests.contract.fuzz --examples $(or $(FUZZ_EXAMPLES),100)

bench: $(STAMP) ## print the benchmark table next to this machine's ceilings; writes bench/results.json
	$(BIN)/python -m bench.run $(BENCH_ARGS)

migrate: $(RUNTIME) ## apply the Alembic migrations to the configured database
	$(BIN)/refserver migrate

seed: $(RUNTIME) ## add the demo identities and print their credentials
	$(BIN)/refserver seed

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) data
