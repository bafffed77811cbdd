# The two commands: `make run` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export AUTHSERVER_ISSUER ?= http://127.0.0.1:8000

.PHONY: run test check bench bench-scale install lock docs messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exactly the locked versions, checked against their hashes, then authserver itself (editable: code
# changes need no reinstall). Reinstalls when the lock or pyproject.toml changes.
$(VENV)/.stamp-install: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --requirement requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "requirements-dev.lock does not satisfy pyproject.toml: run make lock"; exit 1; }
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

# Re-resolve the locks from pyproject.toml: requirements.lock (what the server needs; the Dockerfile
# installs it) and requirements-dev.lock (the same versions plus the test and dev extras). Existing
# pins are kept unless pyproject.toml needs others; `make lock LOCK_ARGS=--upgrade` takes the newest.
LOCK_ARGS ?=
lock: install
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
		pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
		pyproject.toml --extra test --extra dev --constraint requirements.lock -o requirements-dev.lock

# docs/configuration.md from the Settings class (tests/test_configuration_doc.py fails when it drifts).
docs: install
	$(BIN)/python -c "import sys; from authserver.settings import reference; sys.stdout.write(reference())" \
		> docs/configuration.md

# The gettext catalogs (locales/LANG/LC_MESSAGES/messages.po): extract the text of the templates and of
# the code (N_), add what is new to every shipped language, drop what is gone, and compile each to check
# it; lists what is left to translate (tests/test_catalogs.py fails until nothing is). The server
# compiles the .po files in memory when it starts, so no .mo file is kept.
messages: install
	$(BIN)/python -m tests.catalogs

bench: install
	$(BIN)/python bench/run.py

# Latency on an almost empty database vs. a large seeded one (BENCH_SCALE=1: 1M users, 5M refresh tokens).
bench-scale: install
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) build dist *.egg-info
