"""The ingest loop: a source of Kafka records → the Iceberg sink, in batches, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dataplat.settings import Settings
from loader.catalog import ensure_raw_tables, open_catalog
from loader.file_source import dump_files, read_dump_batches
from loader.schemas import ALL_TOPICS
from loader.sink import BatchStats, IcebergSink

log = structlog.get_logger("loader")


def open_sink(
    settings: Settings, before_commit: Callable[[str], None] | None = None
) -> IcebergSink:
    return IcebergSink(ensure_raw_tables(open_catalog(settings)), before_commit=before_commit)


def _commit(sink: IcebergSink, totals: BatchStats) -> None:
    started = time.perf_counter()
    stats = sink.flush()
    totals.add(stats)
    log.info(
        "batch committed",
        records=stats.records,
        rows=stats.rows,
        rejected=stats.rejected,
        tombstones=stats.tombstones,
        already_loaded=stats.skipped_already_loaded,
        seconds=round(time.perf_counter() - started, 3),
    )


def ingest_files(
    settings: Settings,
    directory: Path,
    *,
    show_progress: bool = True,
    before_commit: Callable[[str], None] | None = None,
) -> BatchStats:
    """Lands every ``<topic>.jsonl`` kcat dump of ``directory``; safe to re-run or resume."""
    files = dump_files(directory)
    unknown = [p.name for p in files if p.stem not in ALL_TOPICS]
    if unknown:
        raise ValueError(
            f"no raw table for {', '.join(unknown)}; expected files named after the topics: "
            + ", ".join(f"{t}.jsonl" for t in ALL_TOPICS)
        )
    sink = open_sink(settings, before_commit)
    totals = BatchStats()
    total_bytes = sum(p.stat().st_size for p in files)
    started = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]ingest[/] {task.fields[file]}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("ingest", total=total_bytes, file="", records=0)
        done_bytes = 0
        for path in files:
            for batch, position in read_dump_batches(path):
                sink.add_batch(batch)
                if sink.pending >= settings.batch_records:
                    _commit(sink, totals)
                progress.update(
                    task,
                    completed=done_bytes + position,
                    file=path.name,
                    records=totals.records + sink.pending,
                )
            done_bytes += path.stat().st_size
            progress.update(task, completed=done_bytes, file=path.name)
        _commit(sink, totals)
        progress.update(task, records=totals.records)
    seconds = time.perf_counter() - started
    log.info(
        "ingest finished",
        directory=str(directory),
        records=totals.records,
        rows=totals.rows,
        rejected=totals.rejected,
        tombstones=totals.tombstones,
        already_loaded=totals.skipped_already_loaded,
        seconds=round(seconds, 2),
        records_per_second=round(totals.records / seconds) if seconds else None,
    )
    return totals
