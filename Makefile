# MajiSmart — `make run` and `make test` are the whole set-up.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast contract bench browser lint typecheck clean

help:  ## list the recipes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project (and compile the translation catalogues)
	@$(PY) -m majismart.catalogues

run: install  ## start MajiSmart on http://majismart.localhost:8000 (embedded database if no DATABASE_URL)
	$(PY) -m devkit.dev

browser:  ## make sure the Debian packages the tests use are installed: chromium (browser tests), poppler-utils (PDF checks), pgbouncer (the pooler test)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1 \
	    || ! { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing chromium, poppler-utils and pgbouncer (Debian packages)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils pgbouncer >/dev/null; \
	  else \
	    echo "The tests need Debian's chromium, poppler-utils and pgbouncer: sudo apt-get install -y chromium poppler-utils pgbouncer"; exit 1; \
	  fi; \
	fi

test: install browser  ## run the whole test suite (real PostgreSQL, Redis, Celery worker, Chromium)
	$(PY) -m pytest -q

test-fast: install browser  ## the suite without browser tests
	$(PY) -m pytest -q -m "not e2e"

contract: install  ## the REST API against its OpenAPI schema: schemathesis on a real server (a few minutes)
	$(PY) -m devkit.contract

bench: install  ## performance benchmarks (ratios against in-process baselines)
	$(PY) bench/run.py

clean:  ## remove the virtualenv and local data (embedded database included)
	rm -rf $(VENV) .data staticfiles

lint: install  ## ruff with the project's configuration, and the layering as import contracts (pyproject.toml): clean
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

typecheck: install  ## mypy with django-stubs and DRF stubs over the production code (pyproject.toml): clean
	$(VENV)/bin/mypy
