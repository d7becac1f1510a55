"""Query engines the API reads marts through. SQL reaches them with bound parameters only."""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import duckdb
from requests import RequestException

from api.settings import ApiSettings
from lakehouse.tables import MARTS_NAMESPACE, PUBLISHED_TAG

# Readiness: the engine answers and the marts the API reads exist.
PING_SQL = "select count(*) as n from marts.platform_visitors_daily"


class EngineUnavailable(RuntimeError):
    """The engine cannot answer. The message, which clients see, says what is wrong and how
    to fix it without naming files, addresses or the engine's own error; ``detail`` holds
    those for the API's log."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


NO_MARTS = "no published marts: run `dataplat transform` (or `dataplat demo`) first"
MISSING_MART = "the published marts lack a table the API reads: run `dataplat transform`"


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

    def version(self) -> str | None:
        """What names the marts being read, when it changes whenever they change (a
        published file); None when the engine cannot tell."""
        ...


class DuckDBServingEngine:
    """Reads the marts file behind the serving link, read-only.

    `dataplat transform` publishes a new file and repoints the link atomically; the next
    request opens the new file, while requests under way finish on the old one.
    """

    def __init__(self, settings: ApiSettings):
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
                    raise EngineUnavailable(NO_MARTS, f"{self._link}: {exc}") from exc
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
            raise EngineUnavailable(MISSING_MART, str(exc)) from exc
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
            raise EngineUnavailable(MISSING_MART, str(exc)) from exc

        def batches() -> Iterator[list[tuple]]:
            try:
                while rows := result.fetchmany(batch_size):
                    yield rows
            finally:
                cursor.close()

        return [d[0] for d in result.description], batches()

    def ping(self) -> None:
        self.fetch_all(PING_SQL)

    def version(self) -> str | None:
        try:
            return os.readlink(self._link)  # each publish links a new file name
        except OSError:
            return None  # nothing published yet: fetch_all says so


# Trino errors that say "not now" rather than "wrong query": a restarting coordinator
# answers HTTP 503 or SERVER_STARTING_UP, and NO_NODES_AVAILABLE until its worker registers.
_MISSING_OBJECT = ("TABLE_NOT_FOUND", "SCHEMA_NOT_FOUND", "CATALOG_NOT_FOUND")
_TRANSIENT_TYPES = ("EXTERNAL", "INSUFFICIENT_RESOURCES")
_TRANSIENT_NAMES = ("SERVER_STARTING_UP", "SERVER_SHUTTING_DOWN", "NO_NODES_AVAILABLE")


_MART = re.compile(rf"\b{MARTS_NAMESPACE}\.([a-z_][a-z0-9_]*)\b")


def as_published(sql: str) -> str:
    """The query with every ``marts.<table>`` read as of the tag the transform moves once a
    build and its tests have passed, so a build under way is never seen half done."""
    return _MART.sub(rf"{MARTS_NAMESPACE}.\1 FOR VERSION AS OF '{PUBLISHED_TAG}'", sql)


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class TrinoEngine:
    """Reads the marts through Trino (platform mode), as published (``as_published``);
    parameters become a prepared statement's bound values (``EXECUTE ... USING``), never
    text in the SQL."""

    def __init__(self, settings: ApiSettings):
        self._url = settings.trino_url
        self._settings = settings
        self._version: str | None = None
        self._version_checked = -math.inf
        self._version_generation = 0  # bumped when a failure makes the version unknown
        self._version_refresh = threading.Lock()

    def _options(self) -> dict[str, Any]:
        return {
            **self._settings.trino_connection,  # a fresh HTTP session per connection
            "catalog": self._settings.trino_catalog,
            "schema": "marts",
            # Fail fast when Trino is down: the client answers 503 and the caller retries.
            "max_attempts": 1,
            "request_timeout": 60,
        }

    def _unavailable(self, exc: Exception) -> EngineUnavailable:
        return EngineUnavailable(
            "the query engine (Trino) does not answer: start it (`make platform-up`) or check "
            "DATAPLAT_TRINO_URL; the API log has the details",
            f"Trino at {self._url}: {type(exc).__name__}: {exc}",
        )

    def _translate(self, exc: Exception) -> Exception:
        """EngineUnavailable (a 503) for "not now" or a missing mart; the error itself
        (a 500) when our SQL is wrong."""
        from trino.exceptions import HttpError, TrinoConnectionError, TrinoQueryError

        if isinstance(exc, TrinoQueryError):
            if exc.error_name in _MISSING_OBJECT:
                return EngineUnavailable(MISSING_MART, exc.message)
            if exc.error_name == "INVALID_ARGUMENTS" and PUBLISHED_TAG in exc.message:
                return EngineUnavailable(NO_MARTS, exc.message)  # built, never published
            if exc.error_type in _TRANSIENT_TYPES or exc.error_name in _TRANSIENT_NAMES:
                return self._unavailable(exc)
            return exc
        if isinstance(exc, (TrinoConnectionError, HttpError, RequestException, OSError)):
            return self._unavailable(exc)
        return exc

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            translated = self._translate(exc)
            if isinstance(translated, EngineUnavailable):
                self._forget_version()  # Trino down or a mart gone: no answer is current now
            if translated is exc:
                raise
            raise translated from exc

    def _execute(self, sql: str, params: Sequence[Any], published: bool = True):
        from trino.dbapi import connect

        # A connection per request: the client's connection is an HTTP session, not a socket.
        connection = connect(**self._options())
        cursor = connection.cursor()
        try:
            with self._translated_errors():
                statement = as_published(sql) if published else sql
                cursor.execute(statement, list(params) if params else None)
                columns = [d[0] for d in cursor.description]
        except Exception:
            connection.close()
            raise
        return connection, cursor, columns

    def fetch_all(
        self, sql: str, params: Sequence[Any] = (), published: bool = True
    ) -> list[dict[str, Any]]:
        connection, cursor, columns = self._execute(sql, params, published)
        try:
            with self._translated_errors():
                return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> tuple[list[str], Iterator[list[tuple]]]:
        connection, cursor, columns = self._execute(sql, params)

        def batches() -> Iterator[list[tuple]]:
            try:
                while rows := cursor.fetchmany(batch_size):
                    yield [tuple(row) for row in rows]
            finally:
                connection.close()

        return columns, batches()

    def ping(self) -> None:
        self.fetch_all(PING_SQL)

    def version(self) -> str | None:
        """The snapshots the published tags point at, asked of Trino in the background at
        most every ``api_version_check_seconds`` while requests go on with the version known:
        results read under one version are reused until a publish moves a tag. None, so
        nothing is reused, when the check is off, Trino could not tell or a query found
        Trino unavailable since the last check."""
        every = self._settings.api_version_check_seconds
        if every <= 0:
            return None
        stale = time.monotonic() - self._version_checked >= every
        if stale and self._version_refresh.acquire(blocking=False):
            threading.Thread(target=self._refresh_version, name="published-version",
                             daemon=True).start()  # fmt: skip
        return self._version

    def _refresh_version(self) -> None:
        generation = self._version_generation
        try:
            version = self._published_snapshots()
        except Exception:  # Trino down, no marts yet: the queries themselves say so
            version = None
        finally:
            self._version_checked = time.monotonic()
            self._version_refresh.release()
        if generation == self._version_generation:  # no failure seen since it started
            self._version = version

    def _forget_version(self) -> None:
        """Nothing is reused until a check succeeds again: when a query finds Trino down,
        the API answers 503 like Trino itself instead of serving what it kept."""
        self._version_generation += 1
        self._version = None
        self._version_checked = -math.inf

    def _published_snapshots(self) -> str | None:
        tables = self.fetch_all(
            "select table_name from information_schema.tables where table_schema = ?",
            [MARTS_NAMESPACE],
            published=False,
        )
        if not tables:
            return None
        refs = " union all ".join(
            f"select {sql_string(name)} as mart, snapshot_id "
            f"from {MARTS_NAMESPACE}.{sql_identifier(name + '$refs')} "
            f"where name = {sql_string(PUBLISHED_TAG)}"
            for name in sorted(row["table_name"] for row in tables)
        )
        rows = self.fetch_all(refs, published=False)
        return " ".join(f"{row['mart']}@{row['snapshot_id']}" for row in sorted(
            rows, key=lambda row: row["mart"]))  # fmt: skip


def create_engine(settings: ApiSettings) -> QueryEngine:
    if settings.engine == "trino":
        return TrinoEngine(settings)
    return DuckDBServingEngine(settings)
