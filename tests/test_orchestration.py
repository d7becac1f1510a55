"""Airflow on the embedded target: the DAG folder, the daily DAG against `dataplat transform`,
backfills run twice, and a failing dbt test alerting a real local webhook.

DAG runs go through `airflow dags test` (dag.test()) in a child process with its own
AIRFLOW_HOME (SQLite metadata database), as an operator would run them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest

from lakehouse.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.local import NO_TELEMETRY
from tests.conftest import run_cli
from tests.marts import published_marts
from tests.processes import run
from transform.settings import TransformSettings

pytestmark = pytest.mark.slow

AIRFLOW = [sys.executable, "-m", "airflow"]
# Three KST days from 2026-01-30: the first two are complete (the loader's watermark is past
# their end), and the second is a month's last day. A manual run (`airflow dags test`) at a
# logical date builds the daily interval that ends there (Airflow 3 infers it so): each day's
# run is at its end, 00:00 KST of the next day.
FIRST_DAY = "2026-01-30"
DAYS = {"2026-01-30": "2026-01-30T15:00:00+00:00", "2026-01-31": "2026-01-31T15:00:00+00:00"}
# The day whose first build runs from a checkout whose volume checks warn.
WARNING_DAY = "2026-01-31"
DAY_COLUMNS = ("date_kst", "as_of_date")


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("orchestration") / "topics"
    run_cli(
        "generate", "--out", str(out), "--days", "3", "--events-per-day", "10000",
        "--malls", "6", "--seed", "11", "--start", FIRST_DAY,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, three_days: Path) -> dict[str, str]:
    """A metadata database, the DAG folder of the repo, and an embedded home holding the raw
    tables (nothing built yet)."""
    root = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "orchestration" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **NO_TELEMETRY,
        "DATAPLAT_HOME": str(root / "home"),
    }
    run([*AIRFLOW, "db", "migrate"], env)
    run_cli("dbt-manifest", env=env)
    run_cli("ingest", "--from-dir", str(three_days), env=env)
    return env


@pytest.fixture(scope="module")
def reference_home(tmp_path_factory: pytest.TempPathFactory, three_days: Path) -> Path:
    home = tmp_path_factory.mktemp("reference") / "home"
    env = {"DATAPLAT_HOME": str(home)}
    run_cli("ingest", "--from-dir", str(three_days), env=env)
    run_cli("transform", env=env)
    return home


def run_dag(env: dict[str, str], dag_id: str, logical_date: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*AIRFLOW, "dags", "test", dag_id, logical_date],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def rows_of_day(marts: dict, day: str) -> dict[str, list[tuple]]:
    """The rows of every day-keyed mart for one KST day."""
    selected = {}
    for table, (columns, rows) in marts.items():
        if key := next((c for c in DAY_COLUMNS if c in columns), None):
            position = columns.index(key)
            selected[table] = [r for r in rows if str(r[position]) == day]
    return selected


# ---------------------------------------------------------------------- the DAG folder

INSPECT = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=__import__("os").environ["AIRFLOW__CORE__DAGS_FOLDER"])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag in bag.dags.values():
    timetable = dag.timetable
    out["dags"][dag.dag_id] = {
        "timetable": type(timetable).__name__,
        "cron": getattr(timetable, "expression", None),
        "timezone": str(getattr(timetable, "timezone", "")),
        "assets": sorted(a.uri for a in timetable.asset_condition.objects)
            if getattr(timetable, "asset_condition", None) is not None else [],
        "tasks": {t.task_id: {"type": type(t).__name__, "retries": t.retries, "pool": t.pool,
                              "upstream": sorted(t.upstream_task_ids),
                              "outlets": [getattr(o, "uri", "") for o in t.outlets],
                              "alerts": bool(t.on_failure_callback),
                              "warns": bool(getattr(t, "on_warning_callback", None)),
                              "exclude": str(getattr(t, "exclude", None) or "")}
                  for t in dag.tasks},
    }
print("DAG_FOLDER=" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def dag_folder(airflow_env: dict[str, str]) -> dict:
    result = run([sys.executable, "-c", INSPECT], airflow_env)
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("DAG_FOLDER=")]
    return json.loads(line.removeprefix("DAG_FOLDER="))


def test_dag_folder_imports_with_the_expected_schedules(dag_folder: dict):
    assert dag_folder["errors"] == {}
    dags = dag_folder["dags"]
    assert set(dags) == {"dataplat_hourly", "dataplat_daily", "dataplat_monthly",
                         "dataplat_maintenance"}  # fmt: skip
    assert (dags["dataplat_hourly"]["cron"], dags["dataplat_hourly"]["timezone"]) == (
        "0 * * * *", "Asia/Seoul")  # fmt: skip
    assert (dags["dataplat_daily"]["cron"], dags["dataplat_daily"]["timezone"]) == (
        "0 0 * * *", "Asia/Seoul")  # fmt: skip
    assert dags["dataplat_hourly"]["timetable"] == "CronDataIntervalTimetable"
    assert dags["dataplat_daily"]["timetable"] == "CronDataIntervalTimetable"
    # Monthly waits for the asset the daily DAG emits once a month's last day is built.
    assert dags["dataplat_monthly"]["assets"] == ["dataplat://marts/month-closed"]
    announce = dags["dataplat_daily"]["tasks"]["announce_month_closed"]
    assert announce["outlets"] == ["dataplat://marts/month-closed"]
    assert dags["dataplat_maintenance"]["cron"] == "0 4 * * *"


def test_dags_wait_for_the_loader_then_build_models_each_followed_by_its_tests(dag_folder: dict):
    for dag_id, tag in [("dataplat_hourly", "hourly"), ("dataplat_daily", "daily"),
                        ("dataplat_monthly", "monthly")]:  # fmt: skip
        tasks = dag_folder["dags"][dag_id]["tasks"]
        group = f"dbt_{tag}."
        runs = {t: v for t, v in tasks.items() if t.startswith(group) and t.endswith(".run")}
        tests = {t: v for t, v in tasks.items() if t.startswith(group) and t.endswith(".test")}
        sources = {t: v for t, v in tasks.items() if t.startswith(group) and t.endswith(".source")}
        assert runs and tests and sources, dag_id
        # Models retry, tests and freshness checks do not; every task alerts on failure.
        assert {v["retries"] for v in runs.values()} == {2}
        assert {v["retries"] for v in {**tests, **sources}.values()} == {0}
        assert all(v["alerts"] for v in tasks.values())
        # Tests and freshness checks that warn (the data-quality checks) alert too.
        assert all(v["warns"] for v in {**tests, **sources}.values())
        # dbt's unit tests check the SQL in CI, not the data of every scheduled run.
        assert all("resource_type:unit_test" in v["exclude"] for v in tests.values()), tests
        # DuckDB has one writer: every task touching the build shares one pool.
        assert {v["pool"] for v in {**runs, **tests}.values()} == {"dataplat_dbt"}
        # A model's own tests follow it directly.
        for run_id in runs:
            model = run_id.removesuffix(".run")
            if f"{model}.test" in tests:
                assert tests[f"{model}.test"]["upstream"] == [run_id]
        # Source freshness comes before the first staging model reading it.
        stg = tasks[f"{group}stg_weblog__events.run"]["upstream"]
        assert stg == [f"{group}raw_weblog_events.test"]
        assert tasks[f"{group}raw_weblog_events.test"]["upstream"] == [
            f"{group}raw_weblog_events.source"]  # fmt: skip
        assert tasks[f"{group}raw_weblog_events.source"]["upstream"] == ["pin_raw_snapshots"]
        assert tasks["publish_marts"]["upstream"]
        if tag != "monthly":
            assert tasks["pin_raw_snapshots"]["upstream"] == ["wait_for_loader"]
    daily = dag_folder["dags"]["dataplat_daily"]["tasks"]
    # Every raw table the daily marts read has its freshness checked (the rejected messages,
    # quiet while producers behave, have none).
    checked = {t.split(".")[1] for t in daily if t.endswith(".source")}
    assert checked >= {"raw_weblog_events", "raw_shop_malls", "raw_shop_members",
                       "raw_shop_products", "raw_shop_orders", "raw_shop_cart_items",
                       "raw_shop_coupons", "raw_shop_app_installs"}, checked  # fmt: skip
    # Models that do not depend on each other are built in parallel: tasks with the same
    # upstream tasks (top_pages_daily and top_products_daily both wait on staged events).
    siblings: dict[tuple[str, ...], list[str]] = {}
    for task, spec in daily.items():
        if task.endswith(".run"):
            siblings.setdefault(tuple(sorted(spec["upstream"])), []).append(task)
    parallel = max(siblings.values(), key=len)
    assert len(parallel) >= 2, siblings
    top_lists = {"dbt_daily.top_pages_daily.run", "dbt_daily.top_products_daily.run"}
    assert any(top_lists <= set(group) for group in siblings.values()), siblings


# ---------------------------------------------------------------------- running the DAGs


class WebhookReceiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        WebhookReceiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def webhook_server() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebhookReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/dataplat"
    server.shutdown()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the webhook receiver did not stop"


@pytest.fixture
def webhook(webhook_server: str) -> str:
    WebhookReceiver.received = []
    return webhook_server


def analysts_checkout(tmp_path: Path, env: dict[str, str], webhook: str) -> dict[str, str]:
    """A copy of the dbt project to edit, and the environment that makes the DAGs run it and
    alert ``webhook``. Once the copy is edited, `dataplat dbt-manifest` in that environment
    parses it for the DAGs."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    return {**env, "DATAPLAT_DBT_PROJECT_DIR": str(project),
            "DATAPLAT_ALERT_WEBHOOK_URL": webhook}  # fmt: skip


def judge_volume_on_one_day_of_history(env: dict[str, str]) -> None:
    """Make a checkout's volume checks judge malls on one day of history: on the second day
    each of the 6 malls then has about seven times its average of the seven days before (six
    of them without hits), so the check warns with 6 failing rows. The vars touch the checks,
    not the marts."""
    settings = Path(env["DATAPLAT_DBT_PROJECT_DIR"]) / "dbt_project.yml"
    text = settings.read_text()
    for var, value in (("volume_min_trailing_days", 1), ("volume_min_average_hits", 1)):
        text, replaced = re.subn(rf"^  {var}: .*$", f"  {var}: {value}", text, flags=re.M)
        assert replaced == 1, var
    settings.write_text(text)
    run_cli("dbt-manifest", env=env)


@dataclass
class DailyRuns:
    """The published marts after each round of daily runs, and what the second day's run
    (from the warning checkout) sent to the webhook, left in the checks table and published."""

    rounds: list[dict]
    warning_alerts: list[dict]
    warning_checks: list[tuple]
    warning_published: bool


@pytest.fixture(scope="module")
def daily_runs(
    airflow_env: dict[str, str], webhook_server: str, tmp_path_factory: pytest.TempPathFactory
) -> DailyRuns:
    """The daily DAG for both complete days, then the first day once more (a backfill of a
    day built before a later one). The second day runs from an analyst's checkout whose
    volume checks warn (judge_volume_on_one_day_of_history): one DAG run serves the
    build-per-day comparison and the warning alert."""
    home = Path(airflow_env["DATAPLAT_HOME"])
    warning_env = analysts_checkout(tmp_path_factory.mktemp("warning"), airflow_env,
                                    webhook_server)  # fmt: skip
    judge_volume_on_one_day_of_history(warning_env)
    serving = TransformSettings(home=home).serving_link
    runs = DailyRuns(rounds=[], warning_alerts=[], warning_checks=[], warning_published=False)
    for days in (list(DAYS), [FIRST_DAY]):
        for day in days:
            warns = not runs.rounds and day == WARNING_DAY
            WebhookReceiver.received = []
            published = serving.resolve() if serving.exists() else None
            result = run_dag(warning_env if warns else airflow_env, "dataplat_daily", DAYS[day])
            assert result.returncode == 0, f"{day}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
            # The run passed its day to dbt: the data-quality checks looked at that day.
            assert checked_days(home) == [day]
            if warns:
                runs.warning_alerts = list(WebhookReceiver.received)
                runs.warning_checks = volume_statuses(home)
                runs.warning_published = serving.resolve() != published
        runs.rounds.append(published_marts(home))
    return runs


def checked_days(home: Path) -> list[str]:
    """The days the last build's data-quality checks looked at."""
    with duckdb.connect(str(TransformSettings(home=home).duckdb_path), read_only=True) as con:
        query = "select distinct date_kst from monitoring.mall_volume_checks order by 1"
        return [str(day) for (day,) in con.execute(query).fetchall()]


def volume_statuses(home: Path) -> list[tuple]:
    """(day, status, malls) of the last build's volume checks."""
    with duckdb.connect(str(TransformSettings(home=home).duckdb_path), read_only=True) as con:
        statuses = con.execute(
            "select date_kst, volume_status, count(*) from monitoring.mall_volume_checks "
            "group by all order by all"
        ).fetchall()
    return [(str(day), status, malls) for day, status, malls in statuses]


def test_daily_dag_builds_each_day_as_dataplat_transform_does(
    daily_runs: DailyRuns, reference_home: Path
):
    """Both days equal `dataplat transform`'s build (the second day's checkout changed only
    the volume checks' vars, which do not touch the marts)."""
    reference = published_marts(reference_home)
    for day in DAYS:
        built, expected = rows_of_day(daily_runs.rounds[0], day), rows_of_day(reference, day)
        assert set(built) >= {"platform_visitors_daily", "mall_orders_daily",
                              "segment_recent_high_value", "mall_ranking_daily"}  # fmt: skip
        for table, rows in built.items():
            assert rows, f"{table} has no rows for {day}"
            assert rows == expected[table], f"{table} differs from `dataplat transform` on {day}"


def test_a_backfill_leaves_the_marts_as_one_run(daily_runs: DailyRuns):
    first, second = daily_runs.rounds
    assert first.keys() == second.keys()
    for table in first:
        assert second[table] == first[table], f"{table} changed when {FIRST_DAY} was rebuilt"


def test_transform_backfill_rebuilds_exactly_the_days_given(reference_home: Path):
    """`dataplat transform --from-day/--to-day` (the CLI form of a backfill) changes nothing
    when re-run on days already built from the same raw data."""
    before = published_marts(reference_home)
    run_cli("transform", "--from-day", "2026-01-30", "--to-day", "2026-01-31",
            env={"DATAPLAT_HOME": str(reference_home)})  # fmt: skip
    assert published_marts(reference_home) == before
    bad = run_cli("transform", "--from-day", "2026-01-31", "--to-day", "2026-01-30",
                  env={"DATAPLAT_HOME": str(reference_home)}, check=False)  # fmt: skip
    assert bad.returncode == 1 and "before the first day" in bad.stderr


# ---------------------------------------------------------------------- alerts


def test_a_failing_dbt_test_fails_its_task_and_alerts_the_webhook(
    airflow_env: dict[str, str], webhook: str, tmp_path: Path, daily_runs: DailyRuns
):
    # An analyst's checkout with a data test that cannot pass.
    env = analysts_checkout(tmp_path, airflow_env, webhook)
    (Path(env["DATAPLAT_DBT_PROJECT_DIR"]) / "tests" / "assert_no_hits_at_all.sql").write_text(
        "select event_id from {{ ref('stg_weblog__events') }}\n"
    )
    run_cli("dbt-manifest", env=env)

    result = run_dag(env, "dataplat_daily", DAYS["2026-01-30"])
    assert result.returncode != 0, "the DAG run succeeded despite a failing dbt test"
    home = Path(airflow_env["DATAPLAT_HOME"])

    alerts = [a for a in WebhookReceiver.received if a["outcome"] == "failed"]
    assert [a["task_id"] for a in alerts] == ["dbt_daily.stg_weblog__events.test"]
    alert = alerts[0]
    assert alert["dag_id"] == "dataplat_daily"
    assert alert["model"] == "stg_weblog__events"
    with duckdb.connect(str(TransformSettings(home=home).duckdb_path), read_only=True) as con:
        (events,) = con.execute("select count(*) from staging.stg_weblog__events").fetchone()
    assert [(t["test"], t["failing_rows"]) for t in alert["tests"]] == [
        ("assert_no_hits_at_all", events)]  # fmt: skip
    assert alert["logical_date"].startswith(DAYS["2026-01-30"][:19])
    assert alert["try_number"] == 1  # tests are not retried
    assert "dataplat_daily" in alert["log_url"] and "stg_weblog__events.test" in alert["log_url"]
    assert "assert_no_hits_at_all" in alert["error"]
    assert "failed" in alert["text"]
    # The marts the API serves were left as the last good run published them.
    assert published_marts(home) == daily_runs.rounds[-1]


def test_a_data_quality_warning_reaches_the_webhook_and_the_build_goes_on(
    daily_runs: DailyRuns,
):
    """The second day's run, from a checkout whose volume checks judge malls on one day of
    history (judge_volume_on_one_day_of_history), warned and went on to publish."""
    received = daily_runs.warning_alerts
    assert {a["outcome"] for a in received} == {"warned"}, received
    (alert,) = [a for a in received if a["model"] == "mall_volume_checks"]
    assert alert["task_id"] == "dbt_daily.mall_volume_checks.test"
    assert alert["dag_id"] == "dataplat_daily"
    assert alert["logical_date"].startswith(DAYS[WARNING_DAY][:19])
    (finding,) = alert["tests"]
    assert finding["test"] == "assert_mall_hits_are_within_the_usual_band"
    assert finding["failing_rows"] == 6
    assert "assert_mall_hits_are_within_the_usual_band (6 failing rows)" in alert["text"]
    # What the alert counted is what the checks table held, and the build was published
    # (its marts equal `dataplat transform`'s: test_daily_dag_builds_each_day_...).
    assert daily_runs.warning_checks == [(WARNING_DAY, "high", 6)]
    assert daily_runs.warning_published
