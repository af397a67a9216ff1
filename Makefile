# superbatch: `make demo` runs the demo job locally; `make test` runs the test suite.
# Both install what they need into .venv (Python) and node_modules (Azurite, for tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint format setup setup-python setup-node setup-clients bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What running needs (make demo), and on top of it what the tests need (make test).
$(VENV)/.installed-run: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup-python: $(VENV)/.installed

node_modules/.bin/azurite-blob: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup-node: node_modules/.bin/azurite-blob

setup: setup-python setup-node

# The Azure CLI, one of the third-party clients the emulator tests drive (its own venv under .venv/clients, about a minute, once).
AZ_CLI := $(VENV)/clients/az-2.91.0/.installed
$(AZ_CLI): $(VENV)/.installed tests/emulator/clients/install.py
	$(BIN)/python tests/emulator/clients/install.py

setup-clients: $(AZ_CLI)

demo: $(VENV)/.installed-run
	$(BIN)/superbatch run jobs/sum-of-powers.yaml

# Everything (what CI runs): the linter, then every test tier.
test: setup setup-clients lint
	$(BIN)/python -m pytest -q

# The unit tier alone: in-process, no services, well under a minute.
test-fast: setup-python
	$(BIN)/python -m pytest -q tests/unit

# ruff, then mypy over superbatch/ and batch_emulator/ (configured in pyproject.toml).
lint: setup-python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check superbatch batch_emulator tests bench
	$(BIN)/python -m mypy

format: setup-python
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format superbatch batch_emulator tests bench

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules jobs/.superbatch results .pytest_cache
