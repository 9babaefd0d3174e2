# The two commands: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(PY) -m flask --app wsgi
# PostgreSQL for the second test run (trust auth on these machines).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres soak lint lock bench screenshots install install-dev clean translations compile-translations
# pip-compile's options for the lock files (requirements*.lock, hashed; requirements*.txt are the
# human lists). `make lock` after changing a requirements*.txt.
PIP_COMPILE := $(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Exactly the locked, hashed versions; then the human list, which installs nothing more unless a
# requirement was added without `make lock` (tests/foundation/test_lock_files.py fails then).
$(VENV)/.run-installed: requirements.lock requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

## make run: install, migrate the SQLite default, load demo data, serve with the Stripe sandbox.
run: install compile-translations
	$(FLASK) db upgrade
	$(FLASK) crm demo --quiet
	$(PY) -m devtools.devserver

## make test: every test, on SQLite and then on PostgreSQL.
test: install-dev compile-translations
	@bash tests/browser/setup.sh
	@bash tests/run.sh

## make translations: extract every string from crm/ and templates/ and update each catalogue;
## then write the new Spanish in translations/es/LC_MESSAGES/messages.po.
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot --project crm .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --width 100
	$(VENV)/bin/pybabel compile -d translations

compile-translations: install
	$(VENV)/bin/pybabel compile -d translations

## make soak: the soak-sized cases (marker `soak`: chaos with 300 members, a 100,000-row import...).
soak: install-dev
	env -u TEST_DATABASE_URL $(PY) -m pytest -q -m soak -p no:cacheprovider $(PYTEST_ARGS)
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -q -m soak -p no:cacheprovider $(PYTEST_ARGS)

## make lint: ruff, the formatter check, bandit on crm/ and mypy on crm/ and devtools/ (config in pyproject.toml).
lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m bandit -q -r crm -ll
	$(PY) -m mypy

## make lock: re-pin requirements*.lock (with hashes) from requirements*.txt.
lock: | $(VENV)/bin/python
	$(PY) -m pip install -q pip-tools==7.6.2
	$(PIP_COMPILE) -o requirements.lock requirements.txt
	$(PIP_COMPILE) -o requirements-dev.lock requirements-dev.txt

bench: install-dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
	  || echo "note: wrk is missing (Debian package wrk); the Python load generator will drive the baselines"
	$(PY) -m bench

screenshots: install-dev
	$(PY) -m tests.browser.screenshots

clean:
	rm -rf $(VENV) instance .pytest_cache
