"""`dataplat transform`: raw Iceberg tables → dbt build → the marts published to the API.

On DuckDB, the raw tables are views over ``iceberg_scan`` of each table's current metadata
file, pinned when the transform starts, so every model of one run reads the same snapshot.
The marts are then copied into a new file and the serving link is repointed atomically: the
API keeps answering from the previous file while dbt writes.

On Trino, dbt writes the Iceberg marts in place (an incremental model deletes, then inserts:
two commits). Once the build and its tests have passed, each mart it wrote gets the tag
``dataplat-published`` on its current snapshot, and the API reads the marts as of that tag.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import structlog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from lakehouse.catalog import ensure_audit_table, open_catalog
from lakehouse.duck import install_iceberg_extension
from lakehouse.tables import (
    AUDIT_NAMESPACE,
    AUDIT_TABLE,
    MARTS_NAMESPACE,
    PUBLISHED_TAG,
    RAW_NAMESPACE,
    RAW_TABLES,
)
from transform.settings import TransformSettings

log = structlog.get_logger("transform")

KEEP_PUBLISHED = 3
# Pinned metadata files of earlier builds are removed after this long.
PIN_KEEP_SECONDS = 3600


class TransformError(RuntimeError):
    pass


class NoRawDataError(TransformError):
    """The loader has not created the raw tables yet: nothing to build or describe."""


def dbt_target(settings: TransformSettings) -> str:
    return "embedded" if settings.engine == "duckdb" else "platform"


def source_tables(settings: TransformSettings) -> dict[str, Table]:
    """Every table dbt reads (``raw.*``, ``audit.segment_reads``) as of now, creating the
    audit table when the API has not yet."""
    catalog = open_catalog(settings)
    tables = {}
    for name in RAW_TABLES:
        try:
            tables[f"{RAW_NAMESPACE}.{name}"] = catalog.load_table(f"{RAW_NAMESPACE}.{name}")
        except NoSuchTableError as exc:
            raise NoRawDataError(
                f"raw.{name} does not exist in catalog {settings.catalog_uri}: "
                "run `dataplat ingest` first"
            ) from exc
    tables[AUDIT_TABLE] = ensure_audit_table(catalog)
    return tables


def source_locations(settings: TransformSettings) -> dict[str, str]:
    """The current metadata file of every table dbt reads."""
    return {view: table.metadata_location for view, table in source_tables(settings).items()}


def refresh_raw_views(settings: TransformSettings) -> dict[str, str]:
    """Points ``raw.<table>`` and ``audit.segment_reads`` in the build database at each
    table's current snapshot, pinned: every model of a build reads the same data.

    The pin is a copy of the table's current metadata file, kept beside the build database:
    the loader's commits delete old metadata files (``write.metadata.previous-versions-max``),
    and a long build must keep reading the snapshot it started from. Returns the pinned
    files by view."""
    install_iceberg_extension()
    assert settings.duckdb_path is not None
    pins = settings.duckdb_path.parent / "pinned"
    pins.mkdir(parents=True, exist_ok=True)
    pinned = {}
    for view, table in source_tables(settings).items():
        target = pins / f"{view}-{uuid.uuid4().hex}.metadata.json"
        with table.io.new_input(table.metadata_location).open() as source:
            target.write_bytes(source.read())
        pinned[view] = str(target)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        for schema in (RAW_NAMESPACE, AUDIT_NAMESPACE):
            con.execute(f"create schema if not exists {schema}")
        for view, location in pinned.items():
            escaped = location.replace("'", "''")
            con.execute(f"create or replace view {view} as select * from iceberg_scan('{escaped}')")
    # Pins of earlier builds: a build running elsewhere may still read them for a while.
    cutoff = time.time() - PIN_KEEP_SECONDS
    for old in pins.glob("*.metadata.json"):
        if str(old) not in pinned.values() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return pinned


def dbt_environment(settings: TransformSettings) -> dict[str, str]:
    """The variables profiles.yml reads the connection from."""
    address = settings.trino_address
    environment = {
        "DATAPLAT_DUCKDB_PATH": str(settings.duckdb_path),
        "DATAPLAT_TRINO_HOST": address["host"],
        "DATAPLAT_TRINO_PORT": str(address["port"]),
        "DATAPLAT_TRINO_USER": settings.trino_user,
        "DATAPLAT_TRINO_CATALOG": settings.trino_catalog,
        "DATAPLAT_TRINO_THREADS": str(settings.trino_threads),
    }
    if settings.trino_password is not None:
        environment["DATAPLAT_TRINO_PASSWORD"] = settings.trino_password.get_secret_value()
    if settings.trino_ca_file is not None:
        # dbt-trino's HTTP client (requests) checks certificates against this variable
        # whatever the profile says: point it at Trino's CA for the dbt run (Trino only).
        environment["REQUESTS_CA_BUNDLE"] = str(settings.trino_ca_file)
    return environment


def dbt_target_dir(settings: TransformSettings) -> Path:
    """Where every dbt command of this home writes its artifacts and the docs site."""
    assert settings.dbt_target_dir is not None
    return settings.dbt_target_dir


def dbt_manifest_path(settings: TransformSettings) -> Path:
    """Where `dbt parse` (and every dbt command) writes the project's manifest."""
    return dbt_target_dir(settings) / "manifest.json"


def run_dbt(settings: TransformSettings, command: list[str]) -> list[Any]:
    """Runs a dbt command on the project with the target of the configured engine; returns
    dbt's result of each node it ran (``built_marts`` picks the marts)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(settings))
    args = [
        *command,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--target",
        dbt_target(settings),
        "--target-path",
        str(dbt_target_dir(settings)),
        "--log-path",
        str(settings.home / "logs"),
    ]
    result = dbtRunner().invoke(args)
    if not result.success:
        detail = f": {result.exception}" if result.exception else ""
        raise TransformError(
            f"`dbt {' '.join(command)}` failed{detail}; the failing models and tests are listed "
            f"above and in {settings.home / 'logs' / 'dbt.log'}"
        )
    return list(getattr(result.result, "results", None) or [])


def built_marts(results: Sequence[Any]) -> list[str]:
    """The marts (table names) a dbt build built."""
    return sorted(
        str(done.node.alias)
        for done in results
        if getattr(done.node, "resource_type", None) == "model"
        and done.node.schema == MARTS_NAMESPACE
        and str(done.status) == "success"
    )


def count_resource_type(results: Sequence[Any], resource_type: str) -> int:
    """How many nodes of a kind (model, test, unit_test) a dbt command ran."""
    return sum(
        1 for done in results if str(getattr(done.node, "resource_type", "")) == resource_type
    )


def marts_tagged(settings: TransformSettings, dbt_tag: str) -> list[str]:
    """The marts carrying a dbt tag (what an Airflow DAG builds), from dbt's manifest."""
    manifest = json.loads(dbt_manifest_path(settings).read_text())
    return sorted(
        node["alias"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["schema"] == MARTS_NAMESPACE
        and dbt_tag in node["tags"]
    )


def publish_marts(settings: TransformSettings, marts: Sequence[str] = ()) -> Path | None:
    """Hands a finished, tested build to the API. DuckDB: a copy of the whole ``marts``
    schema behind the serving link (returned). Trino: the published tag on the ``marts``
    named (the ones the build wrote)."""
    if settings.engine == "duckdb":
        return copy_marts_to_serving(settings)
    tag_published_marts(settings, marts)
    return None


def tag_published_marts(settings: TransformSettings, marts: Sequence[str]) -> None:
    """Moves the tag ``dataplat-published`` of each mart onto its current snapshot: what the
    API reads from now on. One Iceberg commit per mart whose tag moves, on the tag alone."""
    catalog = open_catalog(settings)
    for name in marts:
        table = catalog.load_table(f"{MARTS_NAMESPACE}.{name}")
        snapshot = table.current_snapshot()
        if snapshot is None:
            raise TransformError(f"{MARTS_NAMESPACE}.{name} has no snapshot: did dbt build it?")
        ref = table.metadata.refs.get(PUBLISHED_TAG)
        if ref is None or ref.snapshot_id != snapshot.snapshot_id:
            table.manage_snapshots().create_tag(snapshot.snapshot_id, PUBLISHED_TAG).commit()
    log.info("marts published", tag=PUBLISHED_TAG, tables=len(marts))


def copy_marts_to_serving(settings: TransformSettings) -> Path:
    """Copies the ``marts`` schema into a new file and repoints the serving link to it."""
    assert settings.serving_dir is not None
    settings.serving_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    published = settings.serving_dir / f"marts-{stamp}.duckdb"
    # Through the build file's own connection: dbt-duckdb may still hold it in this process.
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute(f"attach '{published}' as serving")
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = current_database() and table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        if not tables:
            raise TransformError("the build has no marts schema: did `dbt build` run?")
        con.execute("create schema serving.marts")
        for table in tables:
            con.execute(f'create table serving.marts."{table}" as select * from marts."{table}"')
        con.execute("detach serving")
    temporary_link = settings.serving_dir / f".current-{stamp}"
    temporary_link.symlink_to(published.name)
    os.replace(temporary_link, settings.serving_link)  # atomic: readers see old or new
    for old in sorted(settings.serving_dir.glob("marts-*.duckdb"))[:-KEEP_PUBLISHED]:
        old.unlink()  # open readers keep their file until they close it
    log.info("marts published", path=str(published), tables=len(tables))
    return published


def rebuild_vars(first: date, last: date) -> dict[str, str]:
    """dbt vars that make incremental models rebuild the KST days first..last (inclusive)."""
    if last < first:
        raise TransformError(f"the last day {last} is before the first day {first}")
    return {"rebuild_from": first.isoformat(), "rebuild_to": last.isoformat()}


def transform(
    settings: TransformSettings,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    dbt_vars: dict[str, str] | None = None,
    unit_tests: bool = False,
) -> Path | None:
    """dbt build (models and data tests), then publish. dbt's unit tests check
    the models' SQL, not the data: they run in CI and development (``unit_tests``), not in
    every production build."""
    started = time.perf_counter()
    if settings.engine == "duckdb":
        refresh_raw_views(settings)
    else:
        source_locations(settings)  # Trino reads the catalog itself: check the tables exist
    command = ["build"]
    if not unit_tests:
        command += ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        command.append("--full-refresh")
    if select:
        command += ["--select", select]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    results = run_dbt(settings, command)
    published = publish_marts(settings, built_marts(results))
    log.info(
        "transform finished",
        seconds=round(time.perf_counter() - started, 1),
        models=count_resource_type(results, "model"),
        data_tests=count_resource_type(results, "test"),
        unit_tests=count_resource_type(results, "unit_test"),
    )
    return published
