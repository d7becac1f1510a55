"""The ingest loop: a source of Kafka records → the Iceberg sink, in batches, with progress."""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
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

from lakehouse.catalog import ensure_raw_tables, open_catalog
from lakehouse.tables import ALL_TOPICS, WEBLOG_TOPIC
from loader.file_source import dump_files, read_dump_batches
from loader.metrics import LoaderMetrics
from loader.settings import LoaderSettings
from loader.sink import BatchStats, IcebergSink

log = structlog.get_logger("loader")


def use_memory_pool(name: str) -> None:
    """Makes ``name`` pyarrow's allocator for what the loader builds from now on ("default":
    pyarrow's own choice). A pool this pyarrow was built without is reported, not fatal."""
    if name == "default":
        return
    try:
        pool = getattr(pa, f"{name}_memory_pool")()
    except NotImplementedError:
        log.warning("arrow memory pool unavailable, using pyarrow's default",
                    pool=name, default=pa.default_memory_pool().backend_name)  # fmt: skip
        return
    pa.set_memory_pool(pool)


def open_sink(
    settings: LoaderSettings, before_commit: Callable[[str], None] | None = None
) -> IcebergSink:
    use_memory_pool(settings.arrow_memory_pool)
    # The objects of the libraries imported by now (115,000) stay for the process's life:
    # frozen, Python's cycle collector no longer walks them each time it runs, which the
    # Kafka loader's 10,000-message reads set off many times a second (an eighth of its
    # main thread's time in a profile).
    gc.freeze()
    return IcebergSink(
        ensure_raw_tables(open_catalog(settings)),
        event_time_max_future=timedelta(seconds=settings.event_time_max_future_seconds),
        before_commit=before_commit,
    )


def _commit(
    sink: IcebergSink,
    totals: BatchStats,
    metrics: LoaderMetrics | None = None,
    *,
    wait: bool = False,
) -> None:
    """Commits what the sink holds, in its commit thread (``wait``: and waits); the commit
    is counted in ``totals`` and reported there once it is made."""
    sink.wait()  # the commit before this one: its time is not this one's
    started = time.perf_counter()

    def report(stats: BatchStats) -> None:
        seconds = time.perf_counter() - started
        totals.add(stats)
        if metrics is not None:
            metrics.committed(stats, seconds, sink.event_time_watermark)
        log.info("batch committed", **_counts(stats), seconds=round(seconds, 3))

    sink.flush(report)
    if wait:
        sink.wait()


def _counts(stats: BatchStats) -> dict[str, object]:
    """What the log says of records committed, per commit and for a whole ingest."""
    return {
        "records": stats.records,
        "rows": stats.rows,
        "rejected": stats.rejected,
        "tombstones": stats.tombstones,
        "already_loaded": stats.skipped_already_loaded,
    }


def _log_finished(totals: BatchStats, started: float, **source: str) -> None:
    seconds = time.perf_counter() - started
    log.info(
        "ingest finished",
        **source,
        **_counts(totals),
        seconds=round(seconds, 2),
        records_per_second=round(totals.records / seconds) if seconds else None,
    )


def ingest_files(
    settings: LoaderSettings,
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
    # The weblog dump first: DuckDB converts it on both cores while commits are written
    # beside it. The CDC dumps, converted record by record in Python on one core, come last,
    # beside the weblog's last commits (the other way round, one core idled through them).
    files.sort(key=lambda path: path.stem != WEBLOG_TOPIC)
    sink = open_sink(settings, before_commit)
    try:
        return _ingest_files(sink, files, settings, directory, show_progress)
    finally:
        sink.close()


def _ingest_files(
    sink: IcebergSink,
    files: list[Path],
    settings: LoaderSettings,
    directory: Path,
    show_progress: bool,
) -> BatchStats:
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
            for batch, position in read_dump_batches(path, settings.dump_chunk_bytes):
                sink.add_batch(batch)
                if sink.full(settings.batch_records, settings.batch_bytes):
                    _commit(sink, totals)
                progress.update(
                    task,
                    completed=done_bytes + position,
                    file=path.name,
                    records=sink.records_added,
                )
            done_bytes += path.stat().st_size
            progress.update(task, completed=done_bytes, file=path.name)
        _commit(sink, totals, wait=True)
        progress.update(task, records=totals.records)
    _log_finished(totals, started, directory=str(directory))
    return totals


def ingest_kafka(
    settings: LoaderSettings,
    *,
    stop_when_idle: float | None = None,
    show_progress: bool = True,
    before_commit: Callable[[str], None] | None = None,
    metrics: LoaderMetrics | None = None,
) -> BatchStats:
    """Lands the contract topics from Kafka until stopped (SIGTERM/SIGINT), or once every
    partition has been read to its end and nothing new came for ``stop_when_idle`` seconds.

    Iceberg commits happen every ``batch_records`` records or ``commit_interval_seconds``;
    the consumer group's offsets are committed after each, as a hint for lag monitoring.
    Metrics (``metrics``, or a new LoaderMetrics) are served on the settings' metrics port
    while it runs.
    """
    from loader.kafka_source import KafkaSource, KafkaSourceError

    sink = open_sink(settings, before_commit)
    source = KafkaSource(
        settings.kafka_client_config,
        settings.kafka_group_id,
        ALL_TOPICS,
        sink.resume_offset,
        loaded_topic_id=sink.topic_id,
    )
    metrics = metrics or LoaderMetrics()
    metrics.event_time(sink.event_time_watermark)
    next_lag_check = 0.0
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stopping.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    totals = BatchStats()
    started = last_commit = time.perf_counter()
    idle_since: float | None = None
    progress = Progress(
        TextColumn("[bold]ingest[/] kafka {task.fields[bootstrap]}"),
        TextColumn("{task.fields[records]:,} records"),
        TextColumn("{task.fields[rate]:,} records/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )

    def committed_offsets() -> dict[tuple[str, int], int]:
        return {tp: sink.resume_offset(*tp) for tp in sorted(source.assigned)}

    def check_lag() -> None:
        nonlocal next_lag_check
        metrics.pending_records.set(sink.pending)
        if time.perf_counter() >= next_lag_check:
            metrics.offsets(source.end_offsets(), committed_offsets())
            next_lag_check = time.perf_counter() + settings.loader_lag_refresh_seconds

    def commit(*, wait: bool = False) -> None:
        """Starts a commit of what the sink holds (``wait``: and waits for it); the consumer
        group's positions follow what is committed: at least the commit before this one."""
        nonlocal last_commit, next_lag_check
        if sink.pending:
            sink.reading_from(source.topic_ids)
            _commit(sink, totals, metrics, wait=wait)
            next_lag_check = 0.0  # the lag changed: ask the brokers again
        elif wait:
            sink.wait()
        source.commit_positions(committed_offsets())
        last_commit = time.perf_counter()

    log.info("ingest from kafka", bootstrap=settings.kafka_bootstrap, topics=list(ALL_TOPICS))
    try:
        metrics.serve(settings.loader_metrics_host, settings.loader_metrics_port)
        with progress:
            task = progress.add_task(
                "ingest", bootstrap=settings.kafka_bootstrap, records=0, rate=0
            )
            source.refresh_assignment(force=True)
            while not stopping.is_set():
                batch = source.poll(timeout=1.0)
                now = time.perf_counter()
                if batch is not None:
                    sink.add_batch(batch)
                # Asked with a batch in hand too: the poll returns early when the last
                # partition reports its end, so the commit below need not wait for an empty
                # poll.
                caught_up = source.caught_up()
                # Idle means caught up all along: a broker outage is not "nothing new", and
                # the idle time counts from the last record taken.
                if not caught_up:
                    idle_since = None
                elif batch is not None or idle_since is None:
                    idle_since = now
                if sink.pending and (
                    sink.full(settings.batch_records, settings.batch_bytes)
                    or now - last_commit >= settings.commit_interval_seconds
                    or (caught_up and stop_when_idle is not None)
                ):
                    commit()
                check_lag()
                records = sink.records_added
                progress.update(task, records=records, rate=round(records / (now - started)))
                if (
                    stop_when_idle is not None
                    and caught_up
                    and idle_since is not None
                    and now - idle_since >= stop_when_idle
                ):
                    break
            commit(wait=True)
            check_lag()
    finally:
        sink.close()
        metrics.close()
        source.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _log_finished(totals, started, source="kafka")
    if source.stopped:
        raise KafkaSourceError(
            f"{len(source.stopped)} partition(s) stopped, the others were loaded:\n"
            + "\n".join(source.stopped.values())
        )
    return totals
