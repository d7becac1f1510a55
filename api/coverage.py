"""What the marts hold: the KST days covered and the malls known, for parameter checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import HTTPException

from api.marts_reader import MartsReader


@dataclass(frozen=True)
class Coverage:
    first: date
    last: date

    def require(self, day: date, name: str = "date") -> None:
        if not self.first <= day <= self.last:
            raise HTTPException(
                404, f"{name} {day} is outside the data: days from {self.first} to {self.last}"
            )


async def data_coverage(reader: MartsReader) -> Coverage:
    rows = await reader.rows(
        "select min(date_kst) as first, max(date_kst) as last from marts.platform_visitors_daily"
    )
    row = rows[0]
    if row["first"] is None:
        raise HTTPException(404, "the marts hold no days yet: ingest data and run the transform")
    return Coverage(row["first"], row["last"])


async def require_as_of_day(reader: MartsReader, as_of: date) -> None:
    """As-of marts are built for every KST day with traffic."""
    (await data_coverage(reader)).require(as_of, name="as_of")


async def require_known_mall(reader: MartsReader, mall_id: int) -> None:
    rows = await reader.rows(
        "select 1 as known from marts.dim_malls where mall_id = ? "
        "union all select 1 from marts.mall_visitors_daily where mall_id = ? limit 1",
        [mall_id, mall_id],
    )
    if not rows:
        raise HTTPException(404, f"mall_id {mall_id} is not a known mall")
