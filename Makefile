# The two commands that must work on a fresh clone: `make demo` and `make test`.
# make demo DAYS=3: a shorter history (default a fortnight ending yesterday); DATE=YYYY-MM-DD: its last night.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
GOV    := $(BIN)/governance
UV_VERSION := 0.9.30
DATE   ?=
ROWS   ?= 2000
DAYS   ?= 14
DATE_ARG := $(if $(DATE),--date $(DATE),)
# make test spreads test files over this many pytest-xdist workers (one per core here); TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

.PHONY: demo test lint airflow venv clean-var

venv: $(VENV)/.installed

# The lock file (requirements.lock, resolved with uv from pyproject.toml) pins every package.
$(VENV)/.installed: pyproject.toml devtools/pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e devtools
	touch $@

demo: venv
	$(GOV) standards check
	$(GOV) db upgrade
	$(GOV) keys init
	$(GOV) demo $(DATE_ARG) --days $(DAYS) --rows $(ROWS)

# BASE=<git revision> (CI: the target branch) compares the standards with it for breaking changes; default HEAD.
test: venv lint
	$(GOV) standards check $(if $(BASE),--base $(BASE),)
	$(GOV) suites check
	$(GOV) suites impact --demo $(if $(BASE),--base $(BASE),)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# ruff, and the import contracts of pyproject.toml's [tool.importlinter] (docs/architecture.md: the layers).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

airflow: venv
	$(GOV) keys init
	$(GOV) airflow -- standalone

# The sharing API under load on loopback against the local PostgreSQL (docs/sharing.md): publishes a
# synthetic register, serves it with 1 and 2 uvicorn workers, writes var/bench/api.json.
.PHONY: bench-api
bench-api: venv
	$(BIN)/python -m governance_bench.sharing_api

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean-var:
	rm -rf var

# Throughput and peak memory of the nightly path on the reference dataset (docs/performance.md), against the
# naive pandas + GX + to_sql path and a bare COPY, on the local PostgreSQL; writes var/bench/results.json.
# ROWS=5000000 for 5M (default 1M here, not the demo's); BASELINE_ROWS=1000000 caps the slow baseline's sample.
BENCH_ROWS := $(if $(filter command line environment,$(origin ROWS)),$(ROWS),1000000)
.PHONY: bench
bench: venv
	$(BIN)/python -m governance_bench.run --rows $(BENCH_ROWS) $(if $(BASELINE_ROWS),--baseline-rows $(BASELINE_ROWS),)
