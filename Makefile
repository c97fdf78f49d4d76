# Picora media origin. `make run` and `make test` do all the set-up on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint fmt bench gc clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime  ## start the origin on the embedded defaults (./data, embedded Redis)
	$(BIN)/picora-origin serve

test: $(VENV)/.dev  ## the whole suite; installs redis-server and Chromium first when missing (as root)
	.ci/system-packages
	$(BIN)/pytest -q

lint: $(VENV)/.dev  ## mypy strict, ruff, and import-linter (imports go one way: pyproject [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd bench && ../$(BIN)/mypy --strict --ignore-missing-imports *.py  # bench/ is scripts, not a package
	$(BIN)/lint-imports --no-cache

fmt: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

gc: $(VENV)/.runtime  ## release abandoned upload reservations and delete orphan objects
	$(BIN)/picora-origin gc

bench: $(VENV)/.dev  ## origin vs nginx (wrk) + origin RSS under 200 downloads; needs nginx, wrk, redis-server
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: fuzz
fuzz: $(VENV)/.dev  ## schemathesis against a live origin with a bigger budget and a fresh seed
	PICORA_FUZZ_EXAMPLES=$${PICORA_FUZZ_EXAMPLES:-200} PICORA_FUZZ_SEED=$${PICORA_FUZZ_SEED:-$$(date +%s)} \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/origin/api/test_openapi_fuzz.py
