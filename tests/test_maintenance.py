"""Table maintenance on real Iceberg files (SQLite catalog): compaction, snapshot expiry and
orphan removal run again and again while the loader commits, and nothing is lost, doubled or
left unreadable."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from lakehouse.catalog import open_catalog
from lakehouse.maintenance import maintain_embedded
from lakehouse.offsets import read_watermarks
from lakehouse.settings import LakehouseSettings as Settings
from lakehouse.settings import MaintenanceSettings
from lakehouse.tables import RAW_TABLES
from tests.conftest import DATAPLAT, run_cli
from tests.marts import published_marts
from tests.platform_fixtures import raw_table_rows
from tests.processes import check_ended, log_tail

pytestmark = pytest.mark.slow


def data_files(settings: Settings, name: str) -> int:
    table = open_catalog(settings).load_table(f"raw.{name}")
    return len(list(table.scan().plan_files()))


def maintenance_settings(home: Path, orphan_hours: float) -> MaintenanceSettings:
    return MaintenanceSettings(
        home=home,
        compaction_min_files=2,
        compaction_target_file_mb=4,
        snapshot_retention_hours=1 / 3600,  # one second: expire all but the loader's newest
        orphan_file_retention_hours=orphan_hours,
    )


def wait_for_raw_tables(settings: Settings, loader: subprocess.Popen, log: Path) -> None:
    """The loader creates the catalog and its tables when it starts."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        check_ended(loader, (None,), log_tail(log))  # still running
        try:
            catalog = open_catalog(settings)
            if all(catalog.table_exists(f"raw.{name}") for name in RAW_TABLES):
                return
        except Exception:  # the SQLite file may be half-created at this instant
            pass
        time.sleep(0.1)
    pytest.fail(f"the loader did not create the raw tables in 60 s\n{log_tail(log)}")


@pytest.fixture(scope="module")
def maintained_home(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """The loader lands the data set in 2,000-record commits while maintenance runs in a loop
    (orphans spared for an hour, as files in flight must be); then once more with every file
    aged two hours, so the files only expired snapshots referenced are removed."""
    home = tmp_path_factory.mktemp("maintained") / "home"
    env = {**os.environ, "DATAPLAT_HOME": str(home), "DATAPLAT_BATCH_RECORDS": "2000"}
    log_path = home.parent / "loader.log"
    with log_path.open("wb") as log_file:  # a file, not a pipe nobody reads while it runs
        loader = subprocess.Popen(
            [*DATAPLAT, "--log-json", "ingest", "--from-dir", str(small_dataset)],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
    settings = maintenance_settings(home, orphan_hours=1)
    wait_for_raw_tables(settings, loader, log_path)
    rounds = compacted = 0
    while loader.poll() is None:
        reports = maintain_embedded(settings)
        rounds += 1
        compacted += sum(r.files_compacted for r in reports)
    check_ended(loader, (0,), log_tail(log_path))
    # Past the one-second retention: every snapshot but the current and the tagged ones is
    # old enough for the final expiry, however soon the loader's last commits came.
    time.sleep(1.1)
    log = log_path.read_text()
    before_final = {name: data_files(settings, name) for name in RAW_TABLES}

    two_hours_ago = time.time() - 7200
    for path in (home / "warehouse").rglob("*"):
        if path.is_file():
            os.utime(path, (two_hours_ago, two_hours_ago))
    orphan = home / "warehouse" / "raw" / "weblog_events" / "data" / "left-by-a-crash.parquet"
    orphan.write_bytes(b"not referenced by any snapshot")
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    final = maintain_embedded(maintenance_settings(home, orphan_hours=1))
    return {
        "home": home, "loader_exit": loader.returncode, "loader_log": log, "rounds": rounds,
        "compacted": compacted, "before_final": before_final, "final": final, "orphan": orphan,
    }  # fmt: skip


def test_the_loader_keeps_working_and_lands_everything_once(maintained_home, pipeline_home):
    assert maintained_home["loader_exit"] == 0, maintained_home["loader_log"][-3000:]
    assert maintained_home["rounds"] >= 2, "maintenance did not overlap the load"
    assert maintained_home["compacted"] > 0, "nothing was compacted while loading"
    home = maintained_home["home"]
    # Same rows as the embedded pipeline's raw tables (the same data set, no maintenance).
    assert raw_table_rows(Settings(home=home)) == raw_table_rows(Settings(home=pipeline_home))


def test_offsets_survive_compaction_and_expiry(maintained_home, small_dataset: Path):
    home = maintained_home["home"]
    catalog = open_catalog(Settings(home=home))
    for name in RAW_TABLES:
        table = catalog.load_table(f"raw.{name}")
        if name != "rejected_messages":
            assert read_watermarks(table), f"raw.{name} lost its offsets"
        # Expiry kept only the newest snapshots (the loader's last one among them).
        assert len(table.metadata.snapshots) <= 3, name
    again = run_cli("--log-json", "ingest", "--from-dir", str(small_dataset),
                    env={"DATAPLAT_HOME": str(home)})  # fmt: skip
    finished = next(json.loads(line) for line in again.stderr.splitlines()
                    if '"ingest finished"' in line)  # fmt: skip
    assert finished["already_loaded"] == finished["records"] > 0
    assert finished["rows"] == {}, "a re-run after maintenance landed rows again"


def test_orphans_and_files_of_expired_snapshots_are_removed(maintained_home):
    home = maintained_home["home"]
    removed = [p for report in maintained_home["final"] for p in report.orphan_paths]
    assert str(maintained_home["orphan"]) in removed
    assert not maintained_home["orphan"].exists()
    # Every data file left on disk belongs to a snapshot still kept (the current one or the
    # loader's newest), and nothing else is left.
    catalog = open_catalog(Settings(home=home))
    referenced = set()
    for name in RAW_TABLES:
        files = catalog.load_table(f"raw.{name}").inspect.all_data_files()
        referenced |= {p.removeprefix("file://") for p in files["file_path"].to_pylist()}
    on_disk = {str(p) for p in (home / "warehouse" / "raw").rglob("*.parquet")}
    assert on_disk == referenced
    current = sum(data_files(Settings(home=home), n) for n in RAW_TABLES)
    assert current <= sum(maintained_home["before_final"].values())


def test_marts_built_after_maintenance_equal_the_pipeline(maintained_home, pipeline_home):
    home = maintained_home["home"]
    run_cli("transform", env={"DATAPLAT_HOME": str(home)})
    assert published_marts(home) == published_marts(pipeline_home)
