"""Query engines the API reads marts through. SQL reaches them with bound parameters only."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import duckdb

from dataplat.settings import Settings


class EngineUnavailable(RuntimeError):
    """The engine cannot answer; the message says what is wrong and how to fix it."""


class QueryEngine(Protocol):
    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; ``?`` placeholders are bound positionally to ``params``."""
        ...

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> tuple[list[str], Iterator[list[tuple]]]:
        """Column names and an iterator of row batches, for results too big to hold at once."""
        ...

    def ping(self) -> None:
        """Raises EngineUnavailable unless the engine answers and the marts exist."""
        ...


class DuckDBServingEngine:
    """Reads the marts file behind the serving link, read-only.

    `dataplat transform` publishes a new file and repoints the link atomically; the next
    request opens the new file, while requests under way finish on the old one.
    """

    def __init__(self, settings: Settings):
        self._link = settings.serving_link
        self._lock = threading.Lock()
        self._path: str | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None

    def _current(self) -> duckdb.DuckDBPyConnection:
        target = os.path.realpath(self._link)
        with self._lock:
            if target != self._path or self._connection is None:
                try:
                    connection = duckdb.connect(target, read_only=True)
                except (duckdb.IOException, duckdb.Error) as exc:
                    raise EngineUnavailable(
                        f"no published marts at {self._link}: run `dataplat transform` "
                        f"(or `dataplat demo`) first ({exc})"
                    ) from exc
                # The previous connection is closed when the last request using it ends.
                self._path, self._connection = target, connection
            return self._connection

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._current().cursor()  # one cursor per request: safe across threads
        try:
            result = cursor.execute(sql, list(params))
            columns = [d[0] for d in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        except duckdb.CatalogException as exc:
            raise EngineUnavailable(
                f"the published marts lack a table ({exc}); run `dataplat transform`"
            ) from exc
        finally:
            cursor.close()

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> tuple[list[str], Iterator[list[tuple]]]:
        cursor = self._current().cursor()
        try:
            result = cursor.execute(sql, list(params))
        except duckdb.CatalogException as exc:
            cursor.close()
            raise EngineUnavailable(
                f"the published marts lack a table ({exc}); run `dataplat transform`"
            ) from exc

        def batches() -> Iterator[list[tuple]]:
            try:
                while rows := result.fetchmany(batch_size):
                    yield rows
            finally:
                cursor.close()

        return [d[0] for d in result.description], batches()

    def ping(self) -> None:
        self.fetch_all("select count(*) as n from marts.platform_visitors_daily")


def create_engine(settings: Settings) -> QueryEngine:
    if settings.engine == "duckdb":
        return DuckDBServingEngine(settings)
    raise EngineUnavailable(f"engine {settings.engine!r} is not available in this build")
