"""How far the loader has landed: the newest event time it committed (its commits carry it)."""

from __future__ import annotations

from datetime import datetime

from lakehouse.catalog import open_catalog
from lakehouse.offsets import read_event_time_watermark
from lakehouse.settings import LakehouseSettings
from lakehouse.tables import RAW_NAMESPACE, WEBLOG_TABLE


def loaded_through(settings: LakehouseSettings) -> datetime | None:
    table = open_catalog(settings).load_table(f"{RAW_NAMESPACE}.{WEBLOG_TABLE}")
    return read_event_time_watermark(table)


def period_is_loaded(settings: LakehouseSettings, period_end: datetime) -> bool:
    """True once the loader has committed events at or after the end of the period: the
    period's own events are in (late stragglers are picked up by later incremental runs)."""
    watermark = loaded_through(settings)
    return watermark is not None and watermark >= period_end
