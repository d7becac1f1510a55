"""The Iceberg catalog (SQLite embedded, PostgreSQL on the platform) and the raw tables in it."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import (
    DateType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

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


# Written by the API: who read which customer segment when (issue: data governance).
AUDIT_NAMESPACE = "audit"
AUDIT_TABLE = "audit.segment_reads"
AUDIT_SCHEMA = Schema(
    NestedField(1, "read_at", TimestamptzType(), required=True),
    NestedField(2, "key_id", StringType(), required=True),
    NestedField(3, "key_name", StringType(), required=True),
    NestedField(4, "segment", StringType(), required=True),
    NestedField(5, "mall_id", LongType(), required=True),
    NestedField(6, "as_of", DateType(), required=True),
    NestedField(7, "format", StringType(), required=True),
    NestedField(8, "parameters", StringType(), required=False),
    NestedField(9, "page", IntegerType(), required=False),
    NestedField(10, "rows", LongType(), required=True),
)


def ensure_audit_table(catalog: SqlCatalog) -> Table:
    catalog.create_namespace_if_not_exists(AUDIT_NAMESPACE)
    return catalog.create_table_if_not_exists(AUDIT_TABLE, schema=AUDIT_SCHEMA)
