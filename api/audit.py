"""The audit log of customer-segment reads and exports: an Iceberg table in the warehouse.

Requests only enqueue a row; a background thread appends what is queued every second (and
at shutdown), so a read never waits for an Iceberg commit.
"""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, date, datetime

import pyarrow as pa
import structlog
from pyiceberg.exceptions import CommitFailedException

from api.settings import ApiSettings
from lakehouse.catalog import ensure_audit_table, open_catalog
from lakehouse.tables import AUDIT_SCHEMA

log = structlog.get_logger("api.audit")


class AuditLog:
    def __init__(self, settings: ApiSettings, interval_seconds: float = 1.0):
        self._settings = settings
        self._queue: queue.Queue[dict] = queue.Queue()
        self._table = None
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    def record(
        self,
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
    ) -> None:
        self._queue.put({
            "read_at": datetime.now(UTC), "key_id": key_id, "key_name": key_name,
            "segment": segment, "mall_id": mall_id, "as_of": as_of, "format": format,
            "parameters": json.dumps(parameters, sort_keys=True), "page": page, "rows": rows,
        })  # fmt: skip

    def flush(self) -> int:
        """Appends everything queued; returns how many rows it wrote."""
        with self._lock:
            rows = []
            while not self._queue.empty():
                rows.append(self._queue.get_nowait())
            if not rows:
                return 0
            if self._table is None:
                try:
                    self._table = ensure_audit_table(open_catalog(self._settings))
                except Exception:
                    for row in rows:
                        self._queue.put(row)
                    raise
            data = pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA.as_arrow())
            for attempt in range(5):
                try:
                    self._table.append(data)
                    return len(rows)
                except CommitFailedException:
                    # Another API process committed first: read the new state and retry.
                    self._table = self._table.refresh()
                    log.warning("audit commit conflict, retrying", attempt=attempt + 1)
            for row in rows:  # never lose an audit row: the next flush tries again
                self._queue.put(row)
            raise RuntimeError(f"could not append {len(rows)} audit rows after 5 attempts")

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
