"""Answers the marts already gave, kept until the marts change.

Published marts never change: `dataplat transform` publishes a new file (embedded) or moves
the published tags onto new snapshots (Trino). So the rows of a query can be kept, keyed by
the engine's ``version()``, the SQL and its parameters, and served again without asking the
engine. The next publish changes the version and empties the cache. While an engine cannot
name its version (``None``), nothing is kept.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from cachetools import LRUCache

Rows = list[dict[str, Any]]


def result_key(sql: str, params: Sequence[Any]) -> Hashable | None:
    """What identifies a query's result within one version; None when a parameter cannot
    be part of a key (then the query is never kept)."""
    key = (sql, *params)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class ResultCache:
    """At most ``max_entries`` results of at most ``max_rows`` rows each, all of one version.

    Used from the event loop only (api/marts_reader.py), so it needs no lock. Callers get
    and give rows they must not change: api/marts_reader.py hands out copies."""

    def __init__(self, max_entries: int, max_rows: int = 10_000):
        self._results: LRUCache[Hashable, Rows] = LRUCache(max_entries)
        self._max_rows = max_rows
        self._version: str | None = None

    def get(self, version: str | None, key: Hashable) -> Rows | None:
        if version is None:
            return None
        if version != self._version:  # a publish since: nothing kept is current
            self._results.clear()
            self._version = version
            return None
        return self._results.get(key)

    def put(self, version: str | None, key: Hashable, rows: Rows) -> None:
        """Keeps ``rows`` read under ``version`` (asked of ``get`` first) unless another
        version became current while they were read."""
        if version is None or len(rows) > self._max_rows:
            return
        if version == self._version:
            self._results[key] = rows
