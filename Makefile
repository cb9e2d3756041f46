# The two commands a fresh clone needs (see README.md):
#   make demo   set up, then run the provider on embedded defaults with a demo portal
#   make test   set up, then run the whole test suite
# Backends for `make test`: SQLite + in-process store by default; set
# IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL to run against PostgreSQL + Redis.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test lint bench clean smart-app axe messages catalogues

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) catalogues

# The .mo binaries are build output, never committed: compiled from the .po files
# (the app also recompiles a missing or stale one when it starts, idp/i18n.py).
catalogues: $(STAMP)
	$(BIN)/python -c 'from idp.i18n import compile_catalogues; compile_catalogues()'

# After changing user-visible text: re-extract messages.pot and merge it into each
# language's .po; then translate the new entries (tests/i18n fails until you do).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k translate --no-location --sort-output --width 100 \
		--omit-header -o translations/messages.pot idp templates
	$(BIN)/pybabel update --width 100 --ignore-obsolete --no-fuzzy-matching \
		-i translations/messages.pot -d translations

demo: $(STAMP)
	IDP_ENV=$${IDP_ENV:-development} $(BIN)/idp demo

serve: $(STAMP)
	$(BIN)/idp serve

test: $(STAMP) catalogues
	$(BIN)/ruff check idp tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check idp tests bench
	$(BIN)/ruff format --check idp tests bench

bench: $(STAMP)
	$(BIN)/python bench/signin_latency.py
	$(BIN)/python bench/token_throughput.py
	$(BIN)/python -m bench.matching_quality

clean:
	rm -rf $(VENV) instance .pytest_cache

# The SMART app of tests/e2e/test_smart_launch.py: fhirclient from the npm registry,
# exactly as package-lock.json pins it (needs node and npm; the test skips without).
smart-app:
	npm ci --prefix tests/e2e/smart_app --no-audit --no-fund --ignore-scripts

# axe-core from npm, run on every page the browser tests visit (tests/browser/audit.py).
axe:
	npm ci --prefix tests/browser/axe --no-audit --no-fund --ignore-scripts
