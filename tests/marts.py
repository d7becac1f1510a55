"""The marts two builds published, in a form two builds (or two engines) can be compared in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from lakehouse.settings import EngineSettings

# When the loader committed a row: a fact about each run, not about the data.
RUN_COLUMNS = {"_ingested_at"}

Marts = dict[str, tuple[list[str], list[tuple]]]


def _normalise(value):
    # The engines' drivers differ in Python types, not in values: decimals that are whole
    # numbers, aware datetimes in different zones.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def comparable(columns: list[str], rows) -> tuple[list[str], list[tuple]]:
    """The columns without run stamps, and the rows normalised and sorted."""
    keep = [i for i, c in enumerate(columns) if c not in RUN_COLUMNS]
    normalised = [tuple(_normalise(row[i]) for i in keep) for row in rows]
    return [columns[i] for i in keep], sorted(normalised, key=repr)


def published_marts(home: Path) -> Marts:
    """Every mart the embedded build in `home` published for the API."""
    with duckdb.connect(str(EngineSettings(home=home).serving_link), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
        marts = {}
        for table in tables:
            result = con.execute(f"select * from marts.{table}")
            marts[table] = comparable([d[0] for d in result.description], result.fetchall())
        return marts
