"""`dataplat simulate-shop`: replays the shop history of generated dumps into a real MariaDB.

The generator writes the shop database's history as Debezium change events (the
``shop.<table>.jsonl`` kcat -J dumps, topics.md section 2). This module turns those events
back into SQL on a real shop database (``infra/conf/mariadb/shop_schema.sql``): a snapshot
read (``r``) or an insert (``c``) becomes an ``INSERT`` of the ``after`` image, an update
(``u``) an ``UPDATE`` of every column of ``after`` but the id, a delete (``d``) a ``DELETE``
of the row. Debezium, reading that database's binlog, then sends the same history as real
change events: the platform can be fed from generated dumps or through Debezium alike.

Order. The changes of all seven tables are applied in one global order, the contract's
``(source.file, source.pos, source.row)``: the binlog order of the generated database, the
order its transactions ran. ``source.ts_ms`` is no order: the generator draws the times of a
row's future (a cart item removed hours later, a coupon used at a payment that happens, in
time, before the coupon's issue) when it writes the row, so along its binlog the times go
back and forth. Applied in time order, an update could come before its row's insert.

Faults of the dumps are skipped, never fatal, and counted per reason: tombstones (no change,
the delete before them carries it), records that are not UTF-8, not JSON or not a change
envelope, redelivered changes (a ``(table, file, pos, row)`` position seen before: the first
one is applied) and changes whose values the database refuses in strict mode ("x" as an
amount, a row without its mall). InnoDB undoes such a statement by itself and keeps the
transaction open, so the rest of its batch still commits. Wrong-typed values MariaDB can
store (``"12000"`` or ``true`` as an amount, ``12.5`` as a quantity) are stored as MariaDB
converts them, as a real application's write would be.

Changes are written in transactions of ``batch`` changes, one commit each.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = structlog.get_logger("simulate-shop")

Phase = Literal["all", "snapshot", "changes"]
PHASE_OPS: dict[str, frozenset[str]] = {
    "all": frozenset("rcud"),
    "snapshot": frozenset("r"),
    "changes": frozenset("cud"),
}

# The contract's columns (topics.md section 2) and which of them are DATETIME(3) in the
# database (epoch milliseconds, UTC, in the envelopes).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "malls": ("id", "name", "plan", "status", "created_at"),
    "members": ("id", "mall_id", "email", "status", "joined_at"),
    "products": ("id", "mall_id", "name", "price", "status", "created_at"),
    "orders": ("id", "mall_id", "member_id", "status", "total_amount", "created_at", "paid_at",
               "updated_at"),
    "cart_items": ("id", "mall_id", "member_id", "product_id", "quantity", "added_at"),
    "coupons": ("id", "mall_id", "member_id", "campaign", "issued_at", "used_at", "expires_at"),
    "app_installs": ("id", "mall_id", "device_id", "platform", "installed_at", "uninstalled_at"),
}  # fmt: skip
DATETIME_COLUMNS = frozenset(
    ("created_at", "joined_at", "paid_at", "updated_at", "added_at", "issued_at", "used_at",
     "expires_at", "installed_at", "uninstalled_at")
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1)
_DUPLICATE_KEY = re.compile(r"^Duplicate entry '.*' for key")

# Server errors that are not about one change's values: the transaction or the session is
# gone, or the user may not write. Client errors (2000 and up: connection lost) too.
_FATAL_CODES = frozenset((1044, 1045, 1142, 1143, 1205, 1213, 1227, 1290, 1792))
# Strict, and no zero dates: "12000" would otherwise be stored as the date 2012-00-00.
_SESSION_SQL_MODE = (
    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
    "'STRICT_ALL_TABLES', 'NO_ZERO_IN_DATE', 'NO_ZERO_DATE')"
)
REFUSED = "refused by the database"  # the start of the reason of a change MariaDB refused
_FIX = (
    "start it with `make platform-up`, or set DATAPLAT_SHOP_DB_HOST/PORT/USER/PASSWORD "
    "(secrets/platform.env of `make platform-up`)"
)


class ShopDatabaseSettings(BaseSettings):
    """The shop database the simulator writes (MariaDB, its binlog read by Debezium)."""

    model_config = SettingsConfigDict(env_prefix="DATAPLAT_", extra="ignore")

    shop_db_host: str = "127.0.0.1"
    shop_db_port: int = 3307
    shop_db_name: str = "shop"
    shop_db_user: str = "shop_app"
    shop_db_password: SecretStr | None = None

    @property
    def where(self) -> str:
        return f"{self.shop_db_user}@{self.shop_db_host}:{self.shop_db_port}/{self.shop_db_name}"


class ShopDatabaseError(RuntimeError):
    """The shop database cannot be reached, refuses the login, or stopped mid-way."""


@dataclass
class ApplyStats:
    applied: Counter[str] = field(default_factory=Counter)  # per op: r, c, u, d
    # Updates to the values the row already held: applied, but MariaDB logs no change.
    unchanged: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # per reason
    seconds: float = 0.0


@dataclass(slots=True)
class _Change:
    table: str
    op: str
    row_id: int
    values: dict[str, Any] | None  # the after image (None for a delete)


class _Skip(Exception):
    """A dump record that is no change to apply; its argument is the reason."""


def _shop_files(directory: Path) -> list[tuple[str, Path]]:
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory; pass the folder of <topic>.jsonl")
    files = [(t, directory / f"shop.{t}.jsonl") for t in TABLE_COLUMNS]
    present = [(table, path) for table, path in files if path.is_file()]
    if not present:
        raise FileNotFoundError(
            f"no shop.<table>.jsonl files in {directory}; run `dataplat generate`"
        )
    if missing := [path.name for _, path in files if not path.is_file()]:
        log.warning("shop dumps missing, their tables get no changes", missing=missing)
    return present


def _payload(line: bytes) -> tuple[str | None, str | None]:
    """The kcat -J line's key and payload (None: a tombstone)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            # kcat writes message bytes that are not UTF-8 into the line as they are.
            raise _Skip("not UTF-8") from None
        raise _Skip("not a kcat -J line") from None
    if not isinstance(record, dict):
        raise _Skip("not a kcat -J line")
    key, payload = record.get("key"), record.get("payload")
    if payload is not None and not isinstance(payload, str):
        raise _Skip("not a kcat -J line")
    return key if isinstance(key, str) else None, payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(table: str, key: str | None, payload: str) -> tuple[tuple[str, int, int], _Change]:
    """The change's binlog position and the change; _Skip when it is none."""
    try:
        envelope = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _Skip("payload is not valid JSON") from None
    if not isinstance(envelope, dict):
        raise _Skip("not a Debezium envelope")
    op, source = envelope.get("op"), envelope.get("source")
    if op not in ("r", "c", "u", "d"):
        raise _Skip("not a Debezium envelope (no op r/c/u/d)")
    if not (
        isinstance(source, dict)
        and isinstance(source.get("file"), str)
        and _is_int(source.get("pos"))
        and _is_int(source.get("row"))
    ):
        raise _Skip("not a Debezium envelope (no source file/pos/row)")
    position = (source["file"], source["pos"], source["row"])
    if op == "d":
        before = envelope.get("before")
        row_id = before.get("id") if isinstance(before, dict) else None
        if not _is_int(row_id) and key is not None:
            try:
                row_id = orjson.loads(key).get("id")
            except (orjson.JSONDecodeError, AttributeError):
                row_id = None
        if not _is_int(row_id):
            raise _Skip("delete without a row id")
        return position, _Change(table, op, row_id, None)
    after = envelope.get("after")
    if not isinstance(after, dict) or not _is_int(after.get("id")):
        raise _Skip(f"op {op} without an after image with an integer id")
    if unknown := sorted(set(after) - set(TABLE_COLUMNS[table])):
        raise _Skip(f"columns not in {table}: {', '.join(unknown)}")
    if op == "u" and len(after) == 1:
        raise _Skip("update without columns")
    return position, _Change(table, op, after["id"], after)


def _db_value(column: str, value: Any) -> Any:
    """The value as the database takes it: epoch milliseconds become a UTC DATETIME, exactly
    to the millisecond; others go as they are (the database judges them)."""
    if column in DATETIME_COLUMNS and _is_int(value):
        try:
            return _EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            return value  # out of DATETIME's range: the database refuses it
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()  # as text, never pymysql's "(1, 2)" SQL list
    return value


def _statement(change: _Change) -> tuple[str, list[Any]]:
    table, values = f"`{change.table}`", change.values
    if change.op == "d" or values is None:
        return f"DELETE FROM {table} WHERE `id` = %s", [change.row_id]
    if change.op in ("r", "c"):
        columns = ", ".join(f"`{c}`" for c in values)
        marks = ", ".join(["%s"] * len(values))
        params = [_db_value(c, v) for c, v in values.items()]
        return f"INSERT INTO {table} ({columns}) VALUES ({marks})", params
    changed = [c for c in values if c != "id"]
    assignments = ", ".join(f"`{c}` = %s" for c in changed)
    params = [_db_value(c, values[c]) for c in changed]
    return f"UPDATE {table} SET {assignments} WHERE `id` = %s", [*params, change.row_id]


def connect(settings: ShopDatabaseSettings):
    """A pymysql connection to the shop database: autocommit off, strict SQL mode; an
    UPDATE's row count is the rows it changed (MariaDB writes no binlog event for the rest)."""
    import pymysql

    if settings.shop_db_password is None:
        raise ShopDatabaseError(
            f"no password for the shop database {settings.where} (DATAPLAT_SHOP_DB_PASSWORD); "
            + _FIX
        )
    try:
        return pymysql.connect(
            host=settings.shop_db_host,
            port=settings.shop_db_port,
            user=settings.shop_db_user,
            password=settings.shop_db_password.get_secret_value(),
            database=settings.shop_db_name,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=10,
            init_command=_SESSION_SQL_MODE,
        )
    except pymysql.err.MySQLError as exc:
        raise ShopDatabaseError(
            f"cannot use the shop database {settings.where} ({exc}); " + _FIX
        ) from exc


def _collect(
    files: list[tuple[str, Path]], ops: frozenset[str], stats: ApplyStats, on_bytes
) -> list[tuple[tuple[str, int, int], _Change]]:
    """Every change of the phase, first delivery of each position only, unsorted."""
    seen: set[tuple[str, str, int, int]] = set()
    changes: list[tuple[tuple[str, int, int], _Change]] = []
    for table, path in files:
        reported = 0
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if number % 1000 == 0:  # progress: the bytes read since the last report
                    on_bytes(handle.tell() - reported)
                    reported = handle.tell()
                if not line.strip():
                    continue
                try:
                    key, payload = _payload(line)
                    if payload is None:
                        if "d" in ops:
                            stats.skipped["tombstone"] += 1
                        continue
                    position, change = _parse(table, key, payload)
                except _Skip as skip:
                    reason = skip.args[0]
                    stats.skipped[reason] += 1
                    log.debug("record skipped", file=path.name, line=number, reason=reason)
                    continue
                if change.op not in ops:
                    continue
                if (table, *position) in seen:
                    stats.skipped["redelivered (position seen before)"] += 1
                    log.debug("redelivered change skipped", file=path.name, line=number,
                              position=position)  # fmt: skip
                    continue
                seen.add((table, *position))
                changes.append((position, change))
            on_bytes(handle.tell() - reported)
    return changes


def _apply(connection, change: _Change, stats: ApplyStats, where: str) -> None:
    import pymysql

    sql, params = _statement(change)
    try:
        with connection.cursor() as cursor:
            changed = cursor.execute(sql, params)
    except (pymysql.err.DataError, pymysql.err.IntegrityError) as exc:
        # One reason for every row already there, not one per key (a snapshot applied twice).
        reason = f"{REFUSED}: {_DUPLICATE_KEY.sub('Duplicate entry for key', exc.args[-1])}"
    except (pymysql.err.OperationalError, pymysql.err.InternalError) as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if code in _FATAL_CODES or code >= 2000 or code == 0:
            raise ShopDatabaseError(f"the shop database {where} failed: {exc}") from exc
        reason = f"{REFUSED}: {exc.args[-1]}"
    except pymysql.err.MySQLError as exc:  # no such table or column: not the shop schema
        raise ShopDatabaseError(
            f"the shop database {where} refused {sql!r} ({exc}); does it have the shop "
            "schema (infra/conf/mariadb/shop_schema.sql)?"
        ) from exc
    else:
        if changed or change.op in ("r", "c"):
            stats.applied[change.op] += 1
            return
        if change.op == "u" and _row_exists(connection, change):
            # The row already holds these values: no binlog event, so no change for Debezium.
            stats.unchanged[change.op] += 1
            return
        reason = f"{'update' if change.op == 'u' else 'delete'} of a row the database lacks"
    stats.skipped[reason] += 1
    log.info("change skipped", table=change.table, op=change.op, id=change.row_id,
             reason=reason)  # fmt: skip


def _row_exists(connection, change: _Change) -> bool:
    with connection.cursor() as cursor:
        return bool(cursor.execute(f"SELECT 1 FROM {change.table} WHERE `id` = %s",
                                   [change.row_id]))  # fmt: skip


def _commit(connection, where: str) -> None:
    import pymysql

    try:
        connection.commit()
    except pymysql.err.MySQLError as exc:
        raise ShopDatabaseError(f"the shop database {where} did not commit: {exc}") from exc


def apply_history(
    settings: ShopDatabaseSettings,
    from_dir: Path,
    phase: Phase = "all",
    batch: int = 500,
    show_progress: bool = False,
    skip: int = 0,
    limit: int | None = None,
) -> ApplyStats:
    """Applies the shop history of ``from_dir/shop.<table>.jsonl`` to the shop database in
    binlog order: ``snapshot`` only the initial load (op r), ``changes`` only the inserts,
    updates and deletes after it, ``all`` both. One commit per ``batch`` changes. ``skip``
    and ``limit`` take a part of the phase's changes (in that order): a history applied in
    parts, with something else happening in between."""
    if skip < 0 or (limit is not None and limit < 0):
        raise ValueError("skip and limit cannot be negative")
    if phase not in PHASE_OPS:
        raise ValueError(f"phase {phase!r} is none of {', '.join(PHASE_OPS)}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    ops = PHASE_OPS[phase]
    files = _shop_files(from_dir)
    started = time.perf_counter()
    stats = ApplyStats()
    connection = connect(settings)
    progress = Progress(
        TextColumn("[bold]simulate-shop[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )
    try:
        with progress:
            reading = progress.add_task("read", total=sum(p.stat().st_size for _, p in files))
            changes = _collect(files, ops, stats, lambda size: progress.advance(reading, size))
            # Snapshot reads first (they are first in the binlog anyway), then binlog order.
            changes.sort(key=lambda item: (item[1].op != "r", item[0]))
            changes = changes[skip:] if limit is None else changes[skip : skip + limit]
            applying = progress.add_task("apply", total=len(changes))
            pending = 0
            for _, change in changes:
                _apply(connection, change, stats, settings.where)
                pending += 1
                if pending == batch:
                    _commit(connection, settings.where)
                    progress.advance(applying, pending)
                    pending = 0
            _commit(connection, settings.where)
            progress.advance(applying, pending)
    finally:
        if connection.open:  # a lost connection is closed already
            connection.close()
    stats.seconds = time.perf_counter() - started
    log.info(
        "shop history applied",
        directory=str(from_dir),
        phase=phase,
        database=settings.where,
        applied=dict(stats.applied),
        unchanged=sum(stats.unchanged.values()),
        skipped=sum(stats.skipped.values()),
        refused=sum(n for reason, n in stats.skipped.items() if reason.startswith(REFUSED)),
        seconds=round(stats.seconds, 2),
    )
    return stats
