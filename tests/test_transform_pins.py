"""The embedded transform pins the raw snapshots it reads: a long build keeps reading them
while the loader commits many times (real Iceberg files, SQLite catalog, DuckDB)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from lakehouse.catalog import open_catalog
from loader.service import ingest_files
from loader.settings import LoaderSettings
from tests.kcat import envelope_line, weblog_event, write_dump
from transform.build import refresh_raw_views
from transform.settings import TransformSettings

WEBLOG = "weblog.events"


def test_a_pinned_snapshot_stays_readable_while_the_loader_commits(tmp_path: Path):
    home = tmp_path / "home"
    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    lines = [envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
             for o in range(70)]  # fmt: skip
    write_dump(path, lines[:3])
    ingest_files(LoaderSettings(home=home), path.parent, show_progress=False)
    build = TransformSettings(home=home)
    refresh_raw_views(build)
    pinned_from = open_catalog(build).load_table("raw.weblog_events").metadata_location

    # 67 more commits: the table keeps 50 previous metadata files, so the pinned one goes.
    for end in range(4, 71):
        write_dump(path, lines[:end])
        ingest_files(LoaderSettings(home=home), path.parent, show_progress=False)
    assert not Path(pinned_from.removeprefix("file://")).exists()

    with duckdb.connect(str(build.duckdb_path)) as con:
        assert con.execute("select count(*) from raw.weblog_events").fetchone() == (3,)
    refresh_raw_views(build)  # the next build sees everything
    with duckdb.connect(str(build.duckdb_path)) as con:
        assert con.execute("select count(*) from raw.weblog_events").fetchone() == (70,)
