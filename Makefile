# `make run` and `make test` work on a fresh machine: each creates .venv and installs what it
# needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run demo test lint typecheck unit services bench migrations schema graphiql-assets clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME)

# Mailroom with everything on the embedded default: SQLite under ./mailroom-data.
run: $(RUNTIME)
	MAILROOM_GRAPHIQL=true MAILROOM_GRAPHQL_INTROSPECTION=true $(BIN)/mailroom serve

# A workspace to try Mailroom on, from the sample mail in mailroom/demo/: prints an API token for
# each of its two members, then serves as `make run` does (GraphiQL and introspection on).
demo: $(RUNTIME)
	$(BIN)/mailroom demo

test: $(DEV) services lint typecheck
	$(BIN)/pytest

lint: $(DEV)
	$(BIN)/ruff check mailroom tests bench fakes
	$(BIN)/ruff format --check mailroom tests bench fakes
	$(BIN)/lint-imports --no-cache

typecheck: $(DEV)
	$(BIN)/mypy

# The servers the tests talk to (PostgreSQL now; more as later parts need them).
services:
	config/services.sh

# Each writes its figures into bench/RESULTS.md.
bench: $(DEV) services
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/smtp.py
	$(BIN)/python bench/imap.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/gmail.py
	$(BIN)/python bench/graph.py
	$(BIN)/python bench/calendars.py
	$(BIN)/python bench/intelligence.py
	$(BIN)/python bench/scale.py

# After changing the API: write schema.graphql (a test fails while it differs from the code).
schema: $(DEV)
	$(BIN)/python -c "from mailroom.graphql.schema import schema_sdl; print(schema_sdl(), end='')" > schema.graphql

# After changing a model: write the migration that brings existing databases along.
migrations: $(DEV)
	$(BIN)/tortoise -c mailroom.db.TORTOISE_ORM makemigrations

# GraphiQL's files, at the versions config/graphiql-assets.sh pins (fetched with npm; the copies
# are committed, and mailroom/graphql/static/graphiql/README.md says what each one is).
graphiql-assets:
	config/graphiql-assets.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
