"""Shared fixtures: generated data sets made once per test session through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.late_events import WEBLOG_DUMP, late_first_visit
from tests.processes import check_ended, log_events, log_tail, run

LATE_FIRST_VISIT = "late-first-visit"  # the event_id of the late event small_dataset ends with

DATAPLAT = [sys.executable, "-m", "dataplat.cli"]
pytest_plugins = ["tests.platform_fixtures"]


# `make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadgroup`); every
# test gets a group here, and a group runs on one worker, in order:
# - the tests marked `platform` form one group: they share the platform servers, which the
#   platform fixtures reset and the tests restart, so they run one after another;
# - the Airflow modules form one (Cosmos keeps its cache of dbt's parse in a shared directory);
# - every other module is a group of its own, so its module fixtures are made once.
# Groups are handed out in the order of the items: the two longest (platform, Airflow) first.
PLATFORM_GROUP = "platform"
AIRFLOW_GROUP = "airflow"
AIRFLOW_MODULES = ("test_orchestration", "test_airflow_ui")
PLATFORM_FIXTURES = ("platform_servers", "kafka_admin")


def xdist_group(item: pytest.Item) -> str:
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid
    if item.get_closest_marker("platform") is not None:
        return PLATFORM_GROUP
    if used := set(PLATFORM_FIXTURES) & set(getattr(item, "fixturenames", ())):
        raise pytest.UsageError(
            f"{item.nodeid} uses {sorted(used)} but is not marked `platform`: mark it "
            "(pytestmark = pytest.mark.platform), or another worker resets the servers under it"
        )
    return AIRFLOW_GROUP if module in AIRFLOW_MODULES else module


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {id(item): xdist_group(item) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    first = {PLATFORM_GROUP: 0, AIRFLOW_GROUP: 1}
    items.sort(key=lambda item: first.get(groups[id(item)], 2))  # stable: the rest keep order


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: the controller got a collection
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """With `--dist loadgroup` every test id ends with its group (``@platform``); where not,
    the groups are silently ignored (pytest-xdist#1386) and the platform tests would run on
    both workers at once, resetting the servers under each other."""
    if getattr(node.config.option, "dist", "") != "loadgroup":
        return
    if ungrouped := [nodeid for nodeid in ids if "@" not in nodeid]:
        pytest.exit(
            f"pytest-xdist did not apply the test groups ({ungrouped[0]} has none): install "
            "the versions uv.lock pins (make setup), or run with TEST_WORKERS=0",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True):
    """`dataplat ARGS` to its end; with ``check``, a failure shows the end of its output."""
    return run([*DATAPLAT, *args], env, check=check)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two KST days (crossing the month end), 12 malls: every topic and every fault. The
    weblog dump ends with a late event (LATE_FIRST_VISIT) that makes a visitor new a day
    earlier than the first half of the dump says: every pipeline that builds the first part
    before the rest (pipeline_home, the platform's Kafka load) must move them."""
    out = tmp_path_factory.mktemp("generated") / "topics"
    run_cli(
        "generate", "--out", str(out), "--days", "2", "--events-per-day", "20000",
        "--malls", "12", "--seed", "7", "--start", "2026-01-31",
    )  # fmt: skip
    dump = out / WEBLOG_DUMP
    _, line = late_first_visit(out, new_on=date(2026, 2, 1), late_on=date(2026, 1, 31),
                               event_id=LATE_FIRST_VISIT,
                               seen_in_lines=len(dump.read_bytes().splitlines()) // 2)  # fmt: skip
    with dump.open("ab") as file:
        file.write(line)
    manifest = json.loads((out / "_manifest.json").read_text())
    manifest["records"]["weblog.events"] += 1
    manifest["weblog_valid_events"] += 1
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def split_dumps(source: Path, first_half: Path) -> None:
    """The first half of every topic's records: what the loader saw before the rest arrived."""
    first_half.mkdir(parents=True)
    for path in source.glob("*.jsonl"):
        lines = path.read_bytes().splitlines(keepends=True)
        (first_half / path.name).write_bytes(b"".join(lines[: len(lines) // 2]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pipeline_home(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded pipeline run on small_dataset in two parts (late data for built days).
    The second transform also runs dbt's unit tests, as CI does; what each transform logged
    is kept beside the home (transform_logs)."""
    root = tmp_path_factory.mktemp("pipeline")
    env = {"DATAPLAT_HOME": str(root / "home")}
    split_dumps(small_dataset, root / "first_half")
    run_cli("ingest", "--from-dir", str(root / "first_half"), env=env)
    first = run_cli("transform", env=env)
    run_cli("ingest", "--from-dir", str(small_dataset), env=env)
    second = run_cli("transform", "--unit-tests", env=env)
    for name, done in (("first", first), ("second", second)):
        (root / f"transform-{name}.log").write_text(done.stderr)
    return root / "home"


def transform_logs(pipeline_home: Path) -> dict[str, str]:
    """What pipeline_home's first and second `dataplat transform` wrote to stderr."""
    return {name: (pipeline_home.parent / f"transform-{name}.log").read_text()
            for name in ("first", "second")}  # fmt: skip


def create_key(home: Path, *scopes: str) -> str:
    """A real API key, made with `dataplat keys create`; returns its token."""
    args = ["keys", "create", "--name", "tests"]
    for scope in scopes:
        args += ["--scope", scope]
    return run_cli(*args, env={"DATAPLAT_HOME": str(home)}).stdout.strip()


@contextmanager
def serve_api(
    home: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[httpx.Client]:
    """`dataplat serve` over real HTTP, with a key that reads every mall and segment (no rate
    limit to speak of unless ``env`` sets one). The server must become ready (each of its
    ``workers``), stay up, and exit cleanly when stopped. It logs to api_log(home, client)."""
    token = create_key(home, "platform:read", *(f"crm:{m}:read" for m in range(1, 51)))
    port = free_port()
    log = home / f"api-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*DATAPLAT, "serve", "--port", str(port), "--workers", str(workers)],
            env={
                **os.environ,
                "DATAPLAT_RATE_LIMIT_PER_MINUTE": "100000",
                **(env or {}),
                "DATAPLAT_HOME": str(home),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=60,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/readiness").status_code == 200 and (
                    len(serving_pids(log)) >= workers
                ):
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:  # exited before it was ready
                check_ended(server, (None,), log_tail(log))
            assert time.monotonic() < deadline, f"the API not ready in 60 s:\n{log_tail(log)}"
            time.sleep(0.3)
        yield client
        check_ended(server, (None,), log_tail(log))  # still running after the tests
    finally:
        server.terminate()
        server.wait(timeout=30)
        client.close()
    # SIGTERM: uvicorn shuts down gracefully, then re-raises the signal it caught (or exits 0).
    check_ended(server, (0, -signal.SIGTERM), log_tail(log))


def api_log(home: Path, client: httpx.Client) -> Path:
    """Where serve_api's server writes its log: JSON lines."""
    return home / f"api-{client.base_url.port}.log"


def serving_pids(log: Path) -> set[int]:
    """The processes whose app has started, from a server's log: the workers' pids (a single
    process's lines name none: 0 stands for it)."""
    complete = log.read_text().split("\n")[:-1]  # the last may be half-written
    return {e.get("pid", 0) for e in log_events(complete) if e.get("event") == "serving"}


@pytest.fixture(scope="session")
def pipeline_api(pipeline_home: Path):
    """`dataplat serve` on the embedded pipeline's marts (DuckDB)."""
    with serve_api(pipeline_home) as client:
        yield client
