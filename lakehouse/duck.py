"""DuckDB with the iceberg extension, which cannot be downloaded here: PyPI packages ship it."""

from __future__ import annotations

from functools import cache


@cache
def install_iceberg_extension() -> None:
    """Copies the avro and iceberg extensions from their wheels into DuckDB's extension folder."""
    import duckdb_extensions

    duckdb_extensions.import_extension("avro")
    duckdb_extensions.import_extension("iceberg")
