"""The Iceberg catalog (SQLite embedded, PostgreSQL on the platform) and the raw tables in it."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from dataplat.settings import Settings
from loader.schemas import RAW_NAMESPACE, RAW_TABLES

# Old metadata.json files are dropped after a commit: the loader commits often.
TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


def open_catalog(settings: Settings) -> SqlCatalog:
    assert settings.catalog_uri and settings.warehouse
    if settings.catalog_uri.startswith("sqlite:///"):
        Path(settings.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    if settings.warehouse.startswith("file://"):
        Path(settings.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(settings.catalog_name, uri=settings.catalog_uri, warehouse=settings.warehouse)


def ensure_raw_tables(catalog: SqlCatalog) -> dict[str, Table]:
    """Creates the ``raw`` namespace and tables where missing; returns them by name."""
    catalog.create_namespace_if_not_exists(RAW_NAMESPACE)
    return {
        name: catalog.create_table_if_not_exists(
            spec.identifier,
            schema=spec.iceberg_schema(),
            partition_spec=spec.partition_spec(),
            properties=TABLE_PROPERTIES,
        )
        for name, spec in RAW_TABLES.items()
    }
