# soulsite: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-scale lint bench install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py soul_bootstrap
	$(PY) manage.py soul_run --host $(HOST) --port $(PORT)

# The whole suite on what DATABASE_URL and REDIS_URL say (SQLite and the ORM broker when unset).
test: install-dev
	$(PY) -m pytest

# The whole suite again on PostgreSQL and Redis, as CI's second run (tests/test_scale.py runs only here).
SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/0
test-scale:
	DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) $(MAKE) test

# Seeds throw-away databases (SQLite, and PostgreSQL `soulsite_bench` when reachable), measures,
# prints a table and writes docs/BENCHMARKS.md. Options: make bench BENCH_ARGS="--drain-budget 0".
bench: install-dev
	$(PY) -m soulbench $(BENCH_ARGS)

# ruff, then the house's layer contracts (pyproject.toml [tool.importlinter], docs/ARCHITECTURE.md).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var/test-*.sqlite3*
