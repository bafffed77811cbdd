# The two commands: `make run` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export AUTHSERVER_ISSUER ?= http://127.0.0.1:8000

.PHONY: run test check bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes (editable: code changes need no reinstall).
$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@

install: $(VENV)/.stamp-install

run: install
	$(BIN)/authserver migrate
	$(BIN)/authserver serve --host 127.0.0.1 --port 8000

# Several processes, one test file each (module fixtures such as the browser stay in one process);
# the tests that start multi-node deployments run one after another (tests/conftest.py groups them).
PYTEST_ARGS ?= -n 4 --dist loadgroup

test: install
	@sh tests/browser/ensure_chromium.sh  # Debian's chromium for the browser tests (root only; else they skip)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, format, types and layers (ruff, mypy strict, import-linter); run before the tests in CI.
check: install
	$(BIN)/ruff check authserver tests bench migrations
	$(BIN)/ruff format --check authserver tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
