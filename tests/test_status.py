"""`dataplat status` on the embedded pipeline: green right after a build, with what the raw
tables and the published marts really hold; red, naming the cause, when the marts lag the
raw data or were never built."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from dataplat.status import KST
from lakehouse.catalog import ensure_raw_tables, open_catalog
from lakehouse.settings import LakehouseSettings
from lakehouse.tables import WEBLOG_TABLE
from tests.conftest import run_cli, split_dumps

AS_OF_MARTS = ("crm_member_value_daily", "mall_ranking_daily", "platform_app_installs_daily")


def bucket_column(mart: str) -> str | None:
    """The mart's bucket, from its name and grain (metrics.md)."""
    if mart.startswith("segment_") or mart in AS_OF_MARTS:
        return "as_of_date"
    for suffix, column in (("_hourly", "hour_kst"), ("_daily", "date_kst"),
                           ("_monthly", "month_kst")):  # fmt: skip
        if mart.endswith(suffix):
            return column
    return None


def status(home: Path, *args: str, env: dict[str, str] | None = None):
    result = run_cli("status", "--json", *args, env={"DATAPLAT_HOME": str(home), **(env or {})},
                     check=False)  # fmt: skip
    return result.returncode, json.loads(result.stdout), " ".join(result.stderr.split())


def test_status_is_green_after_a_build_and_shows_what_the_tables_hold(pipeline_home: Path):
    code, found, said = status(pipeline_home)
    assert code == 0, said
    assert found["ok"] and found["problems"] == [] and found["partitions"] is None

    now = datetime.now(UTC)
    today_start = datetime.combine(now.astimezone(KST).date(), datetime.min.time(), KST)
    tables = ensure_raw_tables(open_catalog(LakehouseSettings(home=pipeline_home)))
    by_name = {t["table"]: t for t in found["raw_tables"]}
    assert set(by_name) == set(tables)
    for name, table in tables.items():
        ingested = table.scan(selected_fields=("_ingested_at",)).to_arrow()["_ingested_at"]
        shown = by_name[name]
        newest = pc.max(ingested).as_py()
        # The last loader commit is the snapshot that stamped the newest rows.
        last_commit = datetime.fromisoformat(shown["last_commit"])
        assert newest <= last_commit < newest + timedelta(seconds=60), name
        today = pc.sum(pc.greater_equal(ingested, today_start)).as_py() or 0
        assert shown["rows_today"] == today, name
    weblog = by_name[WEBLOG_TABLE]["event_time_watermark"]
    events = tables[WEBLOG_TABLE].scan(selected_fields=("event_time",)).to_arrow()["event_time"]
    plausible = events.filter(pc.less_equal(events, now + timedelta(minutes=5)))  # no future
    assert datetime.fromisoformat(weblog) == pc.max(plausible).as_py()

    serving = (pipeline_home / "serving" / "current.duckdb").resolve()
    marts = {m["mart"]: m for m in found["marts"]}
    with duckdb.connect(str(serving), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
        assert set(marts) == set(names)
        for mart in names:
            column = bucket_column(mart)
            if column is None:
                assert marts[mart]["newest_bucket"] is None, mart
                continue
            newest = con.execute(f"select max({column}) from marts.{mart}").fetchone()[0]
            assert marts[mart]["newest_bucket"] == str(newest), mart
    built = datetime.fromtimestamp(serving.stat().st_mtime, UTC)
    assert {datetime.fromisoformat(m["built_at"]) for m in marts.values()} == {built}


def test_status_is_red_and_names_the_cause(small_dataset: Path, tmp_path: Path):
    home = tmp_path / "home"
    env = {"DATAPLAT_HOME": str(home)}
    split_dumps(small_dataset, tmp_path / "first_half")
    run_cli("ingest", "--from-dir", str(tmp_path / "first_half"), env=env)
    code, found, said = status(home)
    assert code == 1
    no_marts = "no published marts: run `dataplat transform` (or `dataplat demo`) first"
    assert found["problems"] == [no_marts], said
    assert f"stale: {no_marts}" in said

    run_cli("transform", env=env)
    assert status(home)[0] == 0
    run_cli("ingest", "--from-dir", str(small_dataset), env=env)  # after the build
    bound = {"DATAPLAT_STATUS_MAX_MART_DELAY_MINUTES": "0.001"}
    code, found, said = status(home, env=bound)
    assert code == 1
    assert len(found["problems"]) == 1 and found["problems"][0].startswith("marts built ")
    assert "DATAPLAT_STATUS_MAX_MART_DELAY_MINUTES): run `dataplat transform`" in said
    assert status(home)[0] == 0  # within the default bound of 120 minutes
