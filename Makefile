# The two commands: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(PY) -m flask --app wsgi
# PostgreSQL for the second test run (trust auth on these machines).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint bench screenshots install install-dev clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

## make run: install, migrate the SQLite default, load demo data, serve with the Stripe sandbox.
run: install
	$(FLASK) db upgrade
	$(FLASK) crm demo
	$(PY) -m crm.devserver

## make test: every test, on SQLite and then on PostgreSQL.
test: install-dev
	@bash tests/browser/setup.sh
	@bash tests/run.sh

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m bandit -q -r crm -ll

bench: install-dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
	  || echo "note: wrk is missing (Debian package wrk); the Python load generator will drive the baselines"
	$(PY) -m bench

screenshots: install-dev
	$(PY) -m tests.browser.screenshots

clean:
	rm -rf $(VENV) instance .pytest_cache
