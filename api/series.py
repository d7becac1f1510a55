"""Reading a per-bucket series from the marts: the mall's table, or the platform's."""

from __future__ import annotations

from datetime import date
from typing import Any

from api.marts_reader import MartsReader

BUCKET_COLUMNS = {"hourly": "hour_kst", "daily": "date_kst", "monthly": "month_kst"}


async def series(
    reader: MartsReader,
    kind: str,
    grain: str,
    columns: tuple[str, ...],
    first: date,
    last: date,
    mall_id: int | None,
) -> dict[Any, dict[str, Any]]:
    """Rows of ``marts.<mall|platform>_<kind>_<grain>`` with buckets in [first, last], by bucket.

    ``kind``, ``grain`` and ``columns`` come from the code, never from a request.
    """
    bucket = BUCKET_COLUMNS[grain]
    table = f"marts.{'mall' if mall_id is not None else 'platform'}_{kind}_{grain}"
    where, params = f"{bucket} between ? and ?", [first, last]
    if mall_id is not None:
        where, params = f"{where} and mall_id = ?", [*params, mall_id]
    rows = await reader.rows(f"select {bucket}, {', '.join(columns)} from {table} where {where}",
                            params)  # fmt: skip
    return {row.pop(bucket): row for row in rows}
