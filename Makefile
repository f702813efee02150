# CarryTheOne — the two commands: `make run` (the whole product, offline) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# `make run` listens on PORT; SITE_URL (links in emails, the sandbox's own address) follows it.
PORT ?= 8000
# Development defaults for `make run` only; any of them can be overridden from the environment.
RUN_ENV := PORT=$(PORT) SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} \
	DEBUG=$${DEBUG:-1} SANDBOX_ENABLED=$${SANDBOX_ENABLED:-1} \
	ACCOUNT_EMAIL_VERIFICATION=$${ACCOUNT_EMAIL_VERIFICATION:-optional}

.PHONY: install run test lint format bench chaos loadtest clean lock audit

# Exactly the versions and files in requirements.lock (hash-checked, pip and the build backend
# included), then the project itself with nothing more: CI, `make run` and `make test` all get the
# same set. A changed lock or pyproject.toml reinstalls. --no-deps: the lock is already the whole
# resolution, and an older pip (Python 3.11.7 ships 23.2) would otherwise re-resolve an extra
# (pip-audit's CacheControl[filecache]) to an unpinned release and refuse; pip check then proves
# the set consistent.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "CarryTheOne needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(RUN_ENV) $(BIN)/python manage.py migrate_all
	$(RUN_ENV) $(BIN)/python manage.py sandbox_reset --seed demo --if-empty
	$(RUN_ENV) $(BIN)/python manage.py seed_demo --connect-sandbox
	@$(RUN_ENV) sh -c 'echo "Starting web, worker and beat on $$SITE_URL (Ctrl-C stops everything)"'
	$(RUN_ENV) $(BIN)/honcho --procfile Procfile start --port $(PORT)

# The whole suite, serially by default; TEST_WORKERS=auto runs it on every core (pytest-xdist),
# a test file to a worker, at most 4 workers (one unexplained failure in two clean runs): each
# worker takes a Redis database after REDIS_URL's (tests/settings.py), and an autouse fixture
# puts back the rows migrations seed before each database test (a worker cannot run every
# transactional test last, as pytest-django does serially). `pytest` alone runs serially too.
# The 25 slowest tests are listed, so one that grows shows in the log before CI nears its limit.
# README: The two commands.
TEST_WORKERS ?= 0
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses=4 --dist loadfile --durations=25

lint: install
	$(BIN)/python -m devtools.deps check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# The sync engine against the sandbox, 10,000 opportunities; the last line printed is JSON.
# Its own database: PostgreSQL carrytheone_bench if 127.0.0.1:5432 answers, else SQLite in
# var/bench/. Options through BENCH_ARGS, e.g. BENCH_ARGS="--naive 0 --profile var/bench/e.prof".
bench: install
	$(BIN)/python -m bench.sync_bench $(BENCH_ARGS)

# Rewrites requirements.lock from pyproject.toml, keeping the versions it already pins where they
# still fit; `make lock UPGRADE=1` takes the newest versions pyproject.toml allows.
lock: install
	$(BIN)/python -m devtools.deps lock $(if $(UPGRADE),--upgrade)

# The locked set against known vulnerabilities (pip-audit, then PyPI's own data); see README.
audit: install
	$(BIN)/python -m devtools.audit

# The real stack under faults (bench/chaos.py): its own PostgreSQL clusters, Redis, web, workers
# and beat on free ports, all stopped at the end; the last line printed is JSON, the exit code
# says whether it passed. Options through CHAOS_ARGS, e.g.
# CHAOS_ARGS="--seed 1 --opportunities 300 --accounts 5 --win-seconds 60".
chaos: install
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# Thousands of customers on one deployment (bench/loadtest.py): 1,000 accounts, 2,000
# integrations and a million log entries in its own PostgreSQL and Redis, gunicorn, 4 Celery
# workers and beat on free ports, all stopped at the end; 20 logged-in users load four pages and
# beat's passes are timed. The last line printed is JSON (also var/loadtest/summary.json), the
# exit code says whether it passed. Options through LOADTEST_ARGS, e.g.
# LOADTEST_ARGS="--small" or LOADTEST_ARGS="--users 40 --seconds 60 --no-neighbour".
loadtest: install
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache staticfiles
