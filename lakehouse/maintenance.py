"""Table maintenance of the raw Iceberg tables and the audit table: snapshot expiry,
small-file compaction and removal of orphan files, while the loader keeps committing.

Embedded, pyiceberg does the work; on the platform, Trino's ``ALTER TABLE ... EXECUTE``. Both
keep the newest snapshot that carries the loader's Kafka offsets, whatever the retention and
however late the expiry runs: the loader tags it in the commit that makes it
(``offsets.OFFSETS_TAG``), and Iceberg never expires a tagged snapshot. Compaction commits
one small bin of files at a time, so a loader commit in between costs one retry on either
side, never data.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow.fs as pafs
import structlog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from lakehouse import offsets
from lakehouse.catalog import commit_retry_pause, open_catalog
from lakehouse.settings import MaintenanceSettings
from lakehouse.tables import AUDIT_TABLE, RAW_NAMESPACE, RAW_TABLES

log = structlog.get_logger("maintenance")

COMMIT_ATTEMPTS = 5


class MaintenanceError(RuntimeError):
    """A maintenance step the engine refused; the message is the engine's, which names the
    setting to change (a retention under the catalog's minimum, a missing privilege)."""


@dataclass
class MaintenanceReport:
    table: str
    snapshots_expired: int = 0
    files_compacted: int = 0
    files_written: int = 0
    orphans_removed: int = 0
    orphan_paths: list[str] = field(default_factory=list)


def raw_table_names() -> list[str]:
    return [f"{RAW_NAMESPACE}.{name}" for name in RAW_TABLES]


def maintained_table_names() -> list[str]:
    """Every table maintenance looks after: the raw tables and the API's audit table."""
    return [*raw_table_names(), AUDIT_TABLE]


# ---------------------------------------------------------------------- embedded: pyiceberg


def expire_snapshots(table: Table, retention: timedelta, now: datetime) -> int:
    """Expires snapshots older than the retention, except the current one and the tagged
    ones (the loader's newest among them)."""
    cutoff_ms = int((now - retention).timestamp() * 1000)
    for _attempt in range(COMMIT_ATTEMPTS):
        table = table.refresh()
        kept = {ref.snapshot_id for ref in table.metadata.refs.values()}
        doomed = [
            s.snapshot_id
            for s in table.metadata.snapshots
            if s.timestamp_ms < cutoff_ms and s.snapshot_id not in kept
        ]
        if not doomed:
            return 0
        try:
            table.maintenance.expire_snapshots().by_ids(doomed).commit()
            return len(doomed)
        except CommitFailedException:
            continue
    raise CommitFailedException(f"{table.name()}: snapshot expiry kept losing to other commits")


def small_file_bytes(target_bytes: int) -> int:
    """Files under three quarters of the target size are compacted (on both engines)."""
    return target_bytes * 3 // 4


def _small_file_bins(table: Table, target_bytes: int, min_files: int) -> list[list[FileScanTask]]:
    """Bins of small files of one partition each, every bin about the target size."""
    by_partition: dict[tuple, list[FileScanTask]] = defaultdict(list)
    for task in table.scan().plan_files():
        if task.file.file_size_in_bytes < small_file_bytes(target_bytes):
            key = (task.file.spec_id, tuple(task.file.partition))
            by_partition[key].append(task)
    bins = []
    for tasks in by_partition.values():
        if len(tasks) < min_files:
            continue
        current: list[FileScanTask] = []
        size = 0
        for task in sorted(tasks, key=lambda t: t.file.file_path):
            current.append(task)
            size += task.file.file_size_in_bytes
            if size >= target_bytes:
                bins.append(current)
                current, size = [], 0
        if len(current) >= 2:
            bins.append(current)
    return bins


def _commit_rewrite(table: Table, old: list[DataFile], new: list[DataFile]) -> Table:
    for attempt in range(COMMIT_ATTEMPTS):
        if attempt:  # apart, so that the attempts fall between different loader commits
            time.sleep(commit_retry_pause(attempt, longest=1.0))
        table = table.refresh()
        live = {task.file.file_path for task in table.scan().plan_files()}
        if not all(f.file_path in live for f in old):
            raise CommitFailedException(f"{table.name()}: files to compact vanished")
        try:
            with table.transaction() as tx:
                snapshot = tx.update_snapshot(snapshot_properties=offsets.loader_properties(table))
                with snapshot.overwrite() as rewrite:
                    for data_file in old:
                        rewrite.delete_data_file(data_file)
                    for data_file in new:
                        rewrite.append_data_file(data_file)
            return table
        except (CommitFailedException, ValidationException) as exc:
            # The loader appended meanwhile; appends never touch the files being replaced.
            # pyiceberg refuses an overwrite once files were added to its partitions since its
            # base snapshot (ValidationException); on the refreshed table it validates again.
            log.info("compaction commit retried after a concurrent commit", table=table.name(),
                     error=type(exc).__name__)  # fmt: skip
    raise CommitFailedException(f"{table.name()}: compaction kept losing to other commits")


def compact_small_files(table: Table, target_bytes: int, min_files: int) -> tuple[int, int]:
    """Rewrites bins of small files into files of about the target size; returns
    (files replaced, files written)."""
    replaced = written = 0
    for bin_tasks in _small_file_bins(table, target_bytes, min_files):
        scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
        data = scan.to_table(bin_tasks)
        new = list(_dataframe_to_data_files(table.metadata, data, table.io, uuid.uuid4()))
        table = _commit_rewrite(table, [t.file for t in bin_tasks], new)
        replaced += len(bin_tasks)
        written += len(new)
    return replaced, written


def _referenced_files(table: Table) -> set[str]:
    metadata = table.metadata
    paths = {table.metadata_location}
    paths.update(entry.metadata_file for entry in metadata.metadata_log)
    for snapshot in metadata.snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            paths.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    paths.update(s.statistics_path for s in metadata.statistics)
    return {_strip_scheme(p) for p in paths}


def _strip_scheme(path: str) -> str:
    """As pyarrow's file systems list paths: file:///a/b → /a/b, s3://bucket/k → bucket/k."""
    return path.split("://", 1)[-1]


def remove_orphan_files(table: Table, older_than: datetime) -> list[str]:
    """Deletes files under the table's location that no snapshot or metadata file references
    and that are older than ``older_than`` (younger ones may belong to a commit in flight)."""
    table = table.refresh()
    filesystem, root = pafs.FileSystem.from_uri(table.location())
    referenced = _referenced_files(table)
    removed = []
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File or info.mtime is None:
            continue
        if _strip_scheme(info.path) in referenced or info.mtime >= older_than:
            continue
        filesystem.delete_file(info.path)
        removed.append(info.path)
    return removed


def maintain_embedded(
    settings: MaintenanceSettings, tables: list[str] | None = None
) -> list[MaintenanceReport]:
    catalog = open_catalog(settings)
    now = datetime.now(UTC)
    reports = []
    for name in tables or maintained_table_names():
        if not catalog.table_exists(name):
            log.info("no such table yet, nothing to maintain", table=name)
            continue
        table = catalog.load_table(name)
        report = MaintenanceReport(name)
        report.files_compacted, report.files_written = compact_small_files(
            table, settings.compaction_target_file_mb << 20, settings.compaction_min_files
        )
        report.snapshots_expired = expire_snapshots(
            table, timedelta(hours=settings.snapshot_retention_hours), now
        )
        report.orphan_paths = remove_orphan_files(
            table, now - timedelta(hours=settings.orphan_file_retention_hours)
        )
        report.orphans_removed = len(report.orphan_paths)
        log.info(
            "table maintained", **{k: v for k, v in vars(report).items() if k != "orphan_paths"}
        )
        reports.append(report)
    return reports


# ---------------------------------------------------------------------- platform: Trino


TRINO_STEPS = ("optimize", "expire_snapshots", "remove_orphan_files")


def trino_statement(settings: MaintenanceSettings, name: str, step: str) -> str:
    """One of Trino's maintenance procedures for one table. Trino's expiry keeps tagged
    snapshots, the loader's included; the catalog's minimum retentions
    (infra/conf/trino/catalog) refuse thresholds shorter than a day."""
    qualified = f"{settings.trino_catalog}.{name}"
    if step == "optimize":
        threshold = f"{small_file_bytes(settings.compaction_target_file_mb << 20)}B"
        return f"alter table {qualified} execute optimize(file_size_threshold => '{threshold}')"
    if step == "expire_snapshots":
        seconds = int(timedelta(hours=settings.snapshot_retention_hours).total_seconds())
        return (
            f"alter table {qualified} execute expire_snapshots(retention_threshold => '{seconds}s')"
        )
    if step == "remove_orphan_files":
        seconds = int(timedelta(hours=settings.orphan_file_retention_hours).total_seconds())
        return (
            f"alter table {qualified} execute remove_orphan_files"
            f"(retention_threshold => '{seconds}s')"
        )
    raise ValueError(f"unknown maintenance step {step!r}; one of {', '.join(TRINO_STEPS)}")


def maintain_on_trino(settings: MaintenanceSettings, tables: list[str] | None = None) -> list[str]:
    from trino.dbapi import connect
    from trino.exceptions import TrinoQueryError

    catalog = open_catalog(settings)
    connection = connect(**settings.trino_connection)
    executed = []
    try:
        for name in tables or maintained_table_names():
            if not catalog.table_exists(name):
                log.info("no such table yet, nothing to maintain", table=name)
                continue
            for step in TRINO_STEPS:
                statement = trino_statement(settings, name, step)
                cursor = connection.cursor()
                try:
                    cursor.execute(statement)
                    cursor.fetchall()
                except TrinoQueryError as exc:
                    raise MaintenanceError(
                        f"Trino refused `{statement}`: {exc.message} ({exc.error_name})"
                    ) from exc
                executed.append(statement)
            log.info("table maintained", table=name, engine="trino")
    finally:
        connection.close()
    return executed
