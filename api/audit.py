"""The audit log of customer-segment reads and exports: an Iceberg table in the warehouse.

Requests only enqueue a row; a background thread appends what is queued every
``interval_seconds`` (DATAPLAT_API_AUDIT_FLUSH_SECONDS, 10 s in the API) and at shutdown, so
a read never waits for an Iceberg commit. No row is ever dropped: rows a
failed append did not write are kept and written first by the next flush. The queue is
bounded: when the table cannot be written for long enough to fill it, a segment read that
cannot be audited is refused (``AuditUnavailable``, a 503) rather than served unaudited.
"""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pyarrow as pa
import structlog
from anyio import to_thread
from pyiceberg.exceptions import CommitFailedException

from api.settings import ApiSettings
from lakehouse.catalog import ensure_audit_table, open_catalog
from lakehouse.maintenance import expire_snapshots
from lakehouse.tables import AUDIT_SCHEMA

log = structlog.get_logger("api.audit")


class AuditUnavailable(RuntimeError):
    """The audit queue stayed full: the audit table cannot be written (see the API's log)."""


class AuditLog:
    def __init__(
        self,
        settings: ApiSettings,
        interval_seconds: float | None = None,
        max_queued: int | None = None,
        wait_seconds: float = 10.0,
        kept_snapshots: int = 10,
    ):
        """``interval_seconds`` and ``max_queued`` default to the settings'
        ``api_audit_flush_seconds`` and ``api_audit_max_queued``."""
        if max_queued is None:
            max_queued = settings.api_audit_max_queued
        if interval_seconds is None:
            interval_seconds = settings.api_audit_flush_seconds
        self._kept_snapshots = kept_snapshots
        self._wait = wait_seconds
        self._settings = settings
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=max_queued)
        # Taken from the queue, not yet committed: written first by the next flush.
        self._unwritten: list[dict] = []
        self._max_batch = max_queued
        self._table = None
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    def record(self, *, wait_for_room: bool = False, **fields) -> None:
        """Queues one row (the fields of ``_row``). When the queue is full it waits for
        room: as long as it takes with ``wait_for_room`` (a download already sent), else a
        few seconds, then raises ``AuditUnavailable``."""
        try:
            self._queue.put(self._row(**fields), timeout=None if wait_for_room else self._wait)
        except queue.Full as exc:
            raise AuditUnavailable(
                f"the audit log has {self._queue.qsize():,} reads waiting to be written; "
                "the audit table cannot be written (see the API's log): retry later"
            ) from exc

    async def arecord(self, **fields) -> None:
        """``record`` from the event loop: queued at once while there is room; a wait for
        room happens on a worker thread."""
        try:
            self._queue.put_nowait(self._row(**fields))
        except queue.Full:
            await to_thread.run_sync(partial(self.record, **fields))

    @staticmethod
    def _row(
        *,
        key_id: str,
        key_name: str,
        segment: str,
        mall_id: int,
        as_of: date,
        format: str,
        parameters: dict,
        page: int | None,
        rows: int,
    ) -> dict:
        return {
            "read_at": datetime.now(UTC), "key_id": key_id, "key_name": key_name,
            "segment": segment, "mall_id": mall_id, "as_of": as_of, "format": format,
            "parameters": json.dumps(parameters, sort_keys=True), "page": page, "rows": rows,
        }  # fmt: skip

    def flush(self) -> int:
        """Appends what is queued (rows an earlier flush could not write first); returns how
        many rows it wrote. On any error the rows stay for the next flush."""
        with self._lock:
            while len(self._unwritten) < self._max_batch:
                try:
                    self._unwritten.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not self._unwritten:
                return 0
            if self._table is None:
                self._table = ensure_audit_table(open_catalog(self._settings))
            data = pa.Table.from_pylist(self._unwritten, schema=AUDIT_SCHEMA.as_arrow())
            for attempt in range(5):
                try:
                    self._table.append(data)
                    written, self._unwritten = len(self._unwritten), []
                    self._expire_old_snapshots()
                    return written
                except CommitFailedException:
                    # Another API process committed first: read the new state and retry.
                    self._table = self._table.refresh()
                    log.warning("audit commit conflict, retrying", attempt=attempt + 1)
            raise RuntimeError(
                f"could not append {len(self._unwritten)} audit rows after 5 attempts; "
                "they stay queued"
            )

    def _expire_old_snapshots(self) -> None:
        """Every append is a snapshot, and pyiceberg copies the table's metadata, every
        snapshot in it, several times per commit: past twice ``kept_snapshots`` the oldest
        are expired, so an append costs the same after a month of reads as on the first day
        (daily maintenance alone would let a week of appends pile up). No row goes: each
        snapshot only added rows, and the current one holds them all."""
        snapshots = self._table.metadata.snapshots
        if len(snapshots) <= 2 * self._kept_snapshots:
            return
        stamps = sorted(s.timestamp_ms for s in snapshots)
        oldest_kept = datetime.fromtimestamp(stamps[-self._kept_snapshots] / 1000, UTC)
        try:  # the maintenance step, with everything before the oldest snapshot kept
            expire_snapshots(self._table, timedelta(0), now=oldest_kept)
        except Exception:  # the rows are written; the next append tries again
            log.warning("audit snapshot expiry failed", exc_info=True)
            self._table = self._table.refresh()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # keep auditing alive; unwritten rows stay queued
                log.exception("audit flush failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
