# The two commands: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(PY) -m flask --app wsgi
# PostgreSQL for the second test run (trust auth on these machines).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint bench screenshots install install-dev clean translations compile-translations

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
run: install compile-translations
	$(FLASK) db upgrade
	$(FLASK) crm demo
	$(PY) -m crm.devserver

## make test: every test, on SQLite and then on PostgreSQL.
test: install-dev compile-translations
	@bash tests/browser/setup.sh
	@bash tests/run.sh

## make translations: extract every string from crm/ and templates/ and update each catalogue;
## then write the new Spanish in translations/es/LC_MESSAGES/messages.po.
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot --project crm .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(VENV)/bin/pybabel compile -d translations

compile-translations: install
	$(VENV)/bin/pybabel compile -d translations

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m bandit -q -r crm -ll

bench: install-dev
	$(PY) -m bench

screenshots: install-dev
	$(PY) -m tests.browser.screenshots

clean:
	rm -rf $(VENV) instance .pytest_cache
