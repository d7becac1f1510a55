"""Answers the marts already gave, kept until the marts change.

Published marts never change: `dataplat transform` publishes a new file (embedded) or moves
the published tags onto new snapshots (Trino). So the rows of a query can be kept, keyed by
the engine's ``version()``, the SQL and its parameters, and served again without asking the
engine. The next publish changes the version and empties the cache. While an engine cannot
name its version (``None``), every query is asked of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from cachetools import LRUCache

from api.engine import QueryEngine


class CachingEngine:
    """A QueryEngine that keeps ``fetch_all`` results of the current marts version: at most
    ``max_entries`` results of at most ``max_rows`` rows each (streams are never kept)."""

    def __init__(self, engine: QueryEngine, max_entries: int, max_rows: int = 10_000):
        self._engine = engine
        self._max_rows = max_rows
        self._results: LRUCache[tuple, list[dict[str, Any]]] = LRUCache(max_entries)
        self._version: str | None = None
        self._lock = threading.Lock()

    def version(self) -> str | None:
        return self._engine.version()

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        version = self._engine.version()
        key: tuple | None = (sql, *params)
        try:
            hash(key)
        except TypeError:  # a parameter that cannot be a key: ask the engine
            key = None
        if version is None or key is None:
            return self._engine.fetch_all(sql, params)
        with self._lock:
            if version != self._version:
                self._results.clear()
                self._version = version
            rows = self._results.get(key)
        if rows is None:
            rows = self._engine.fetch_all(sql, params)
            if len(rows) <= self._max_rows:
                with self._lock:
                    if version == self._version:
                        self._results[key] = rows
        return [dict(row) for row in rows]  # copies: callers may change what they get

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> tuple[list[str], Iterator[list[tuple]]]:
        return self._engine.stream(sql, params, batch_size)

    def ping(self) -> None:
        self._engine.ping()
