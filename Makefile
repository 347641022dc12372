# walletpass — `make run` serves the demo on http://127.0.0.1:8000; `make test` runs the whole suite.
# `make run` installs the runtime lock (requirements.txt); `make test`, `make lint` and `make bench` add the
# pinned test and lint tools (requirements-dev.txt). Stamps skip pip while the requirements are unchanged.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint install install-dev init bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

init: install
	@if [ ! -f "$${WALLETPASS_INSTANCE:-instance}/secret_key" ]; then $(VENV)/bin/walletpass init; fi

run: init
	$(VENV)/bin/walletpass serve

test: install-dev
	$(PY) -m pytest -n 2 -q

# Static checks: ruff (pyflakes, pycodestyle, bugbear, isort, pyupgrade, simplify), mypy (strict on the pure core
# and the services; see pyproject.toml) and the import contracts.
lint: install-dev
	$(VENV)/bin/ruff check walletpass api tests bench wsgi.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) bench/pkpass.py
	$(PY) bench/google.py
	$(PY) bench/push.py
	$(PY) bench/webservice.py
	$(PY) bench/images.py
	$(PY) bench/pages.py

clean:
	rm -rf $(VENV) .pytest_cache
