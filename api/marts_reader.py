"""How the routers read the marts: ``await reader.rows(sql, params)``.

An answer the cache keeps for the published marts (api/cache.py) comes back on the event
loop at once; anything else is asked of the engine on a worker thread (once, however many
requests ask for it meanwhile), so a slow query (a cold Trino, a big export) never holds up
the requests that can be answered now. The engines themselves (api/engine.py) stay plain
blocking code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from anyio import to_thread

from api.cache import ResultCache, Rows, result_key
from api.engine import QueryEngine
from api.shared_calls import SharedCalls


class MartsReader:
    """The published marts as one engine reads them, through a cache of ``cache_entries``
    results (0: every query goes to the engine)."""

    def __init__(self, engine: QueryEngine, cache_entries: int):
        self.engine = engine
        self._cache = ResultCache(cache_entries) if cache_entries > 0 else None
        self._reads = SharedCalls()

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """The rows of a query, as dicts the caller may change."""
        key = result_key(sql, params) if self._cache is not None else None
        if key is None:  # never kept: straight to the engine
            return await to_thread.run_sync(self.engine.fetch_all, sql, params)
        version = self.engine.version()
        rows = self._cache.get(version, key)
        if rows is None:  # one read for every request asking meanwhile
            rows = await self._reads.run((version, key), self.engine.fetch_all, sql, params)
            self._cache.put(version, key, rows)
        return [dict(row) for row in rows]  # copies: what the cache keeps stays as read

    async def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> tuple[list[str], Iterator[list[tuple]]]:
        """Columns and row batches of a query that may be too big to hold (never cached);
        iterate the batches off the event loop (a StreamingResponse does)."""
        return await to_thread.run_sync(self.engine.stream, sql, params, batch_size)

    async def ping(self) -> None:
        await to_thread.run_sync(self.engine.ping)
