"""The Iceberg catalog (SQLite embedded, PostgreSQL on the platform); creates the tables of
``lakehouse.tables`` in it."""

from __future__ import annotations

import random
from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from lakehouse.settings import LakehouseSettings
from lakehouse.tables import AUDIT_NAMESPACE, AUDIT_SCHEMA, AUDIT_TABLE, RAW_NAMESPACE, RAW_TABLES

# Old metadata.json files are dropped after a commit: the loader commits often.
TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


def commit_retry_pause(attempt: int, longest: float) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...) of a commit lost to another
    writer: 0.1 s doubling up to ``longest``, each drawn between half and all of it, so that
    the writers' next attempts fall apart."""
    return min(longest, 0.05 * 2**attempt) * random.uniform(0.5, 1)


def open_catalog(settings: LakehouseSettings) -> SqlCatalog:
    assert settings.catalog_uri and settings.warehouse
    if settings.catalog_uri.startswith("sqlite:///"):
        Path(settings.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    if settings.warehouse.startswith("file://"):
        Path(settings.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    s3 = {
        "s3.endpoint": settings.s3_endpoint,
        "s3.region": settings.s3_region,
        "s3.access-key-id": settings.s3_access_key_id,
        "s3.secret-access-key": settings.s3_secret_access_key,
    }
    return SqlCatalog(
        settings.catalog_name,
        uri=settings.catalog_uri,
        warehouse=settings.warehouse,
        **{key: value for key, value in s3.items() if value},
    )


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


# The API appends to the audit table every few seconds for as long as it runs: without these,
# each append would add a manifest the next one reads (until maintenance compacts) and leave
# its metadata file behind for ever.
AUDIT_TABLE_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",  # past 100 manifests an append merges them
    "write.metadata.delete-after-commit.enabled": "true",  # keeps the newest 100 files
}


def ensure_audit_table(catalog: SqlCatalog) -> Table:
    catalog.create_namespace_if_not_exists(AUDIT_NAMESPACE)
    table = catalog.create_table_if_not_exists(
        AUDIT_TABLE, schema=AUDIT_SCHEMA, properties=AUDIT_TABLE_PROPERTIES
    )
    missing = {k: v for k, v in AUDIT_TABLE_PROPERTIES.items() if table.properties.get(k) != v}
    if missing:  # a table created before these were set
        with table.transaction() as transaction:
            transaction.set_properties(missing)
    return table
