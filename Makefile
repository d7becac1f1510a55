# One command sets up and runs the main job (`make demo`), one runs the tests (`make test`).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: setup demo test lint lint-sql format browser bench bench-api bench-platform bench-peer clean platform-up platform-down credentials airflow

# uv lives in its own small venv so `uv sync` never removes it from the project's.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Every extra: the tests cover the platform clients and Airflow too. Bytecode compiled once
# here (as the Dockerfile does): where PYTHONDONTWRITEBYTECODE is set, as on these machines,
# every process would otherwise compile each module it imports from source (0.85 s of the
# loader's 1.5 s of imports; every dbt, Airflow and CLI process of the tests).
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/dataplat demo

# Two pytest-xdist workers, the groups of tests/conftest.py handed out in their order
# (TEST_WORKERS=0: one process). pytest's exit 5 (no tests collected) is a failure here,
# never a silent pass.
TEST_WORKERS ?= 2
test: setup
	@$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(MAKE) --no-print-directory lint-sql

# The dbt project's SQL style (dbt_project/.sqlfluff): rendered by dbt on the embedded
# target, against an empty scratch DuckDB file (nothing is built).
lint-sql: setup
	mkdir -p .cache/sqlfluff
	cd dbt_project && DATAPLAT_DUCKDB_PATH=$(CURDIR)/.cache/sqlfluff/lint.duckdb \
		$(CURDIR)/$(VENV)/bin/sqlfluff lint models tests --processes 1

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

BENCH_DAY_EVENTS ?= 80000000
bench: setup
	$(VENV)/bin/python -m bench.loader_throughput
	$(VENV)/bin/python -m bench.transform_day --events-per-day $(BENCH_DAY_EVENTS)

# API latency over HTTP (embedded; `--engine trino` on the platform): load from Debian's wrk.
bench-api: setup
	@command -v wrk >/dev/null || { sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$sudo apt-get install -y --no-install-recommends wrk; }
	$(VENV)/bin/python -m bench.api_latency

# Debian's Chromium and chromedriver: the tests that load the Airflow UI in a real browser.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y --no-install-recommends chromium chromium-driver \
		|| { $$sudo apt-get update && \
		     $$sudo apt-get install -y --no-install-recommends chromium chromium-driver; }; }
	@chromium --version 2>/dev/null

# Airflow standalone on the embedded target (UI on http://127.0.0.1:8080); see orchestration/.
airflow: setup
	$(VENV)/bin/python -m orchestration.local

# On the platform servers (resets their data): Kafka loader throughput and memory, and the
# same day transformed on DuckDB and on Trino.
bench-platform: setup
	$(VENV)/bin/python -m infra.platform up
	$(VENV)/bin/python -m bench.kafka_loader
	$(VENV)/bin/python -m bench.engines

# Our Kafka loader beside Apache Iceberg's Kafka Connect sink, on the same broker, topics and
# catalog (resets the platform's data; Connect and the sink come from Maven Central).
bench-peer: setup
	$(VENV)/bin/python -m infra.platform up postgres kafka
	$(VENV)/bin/python -m bench.kafka_connect_peer

clean:
	rm -rf data .pytest_cache dbt_project/target dbt_project/logs

# Platform mode servers (PostgreSQL, Kafka, Trino, the shop database and Debezium on Kafka
# Connect) from real distributions, on loopback.
platform-up: $(STAMP)
	$(VENV)/bin/python -m infra.platform up

# Credentials of every platform principal (also what docker-compose.yml reads); platform-up
# makes them on its first start too.
credentials: $(STAMP)
	$(VENV)/bin/python -m infra.platform credentials

platform-down:
	$(VENV)/bin/python -m infra.platform down
