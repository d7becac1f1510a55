"""Customer segments as of a day, per mall: paged JSON or a whole-segment CSV/XLSX download."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from api.auth import PrincipalDep
from api.coverage import require_as_of_day, require_known_mall
from api.deps import AuditDep, ReaderDep
from api.exports import csv_download, xlsx_download
from api.ranges import months_before_end_of
from api.schemas.common import ERROR_RESPONSES, MAX_ID
from api.schemas.crm import AbandonedCartPage, RecentHighValuePage, UnusedCouponsPage

KST = timezone(timedelta(hours=9), "Asia/Seoul")
router = APIRouter(prefix="/crm/segments", tags=["crm"], responses=ERROR_RESPONSES)

MAX_MONTHS = 24  # how far back marts.crm_member_value_daily reaches (member_value_max_months)


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


@dataclass(frozen=True)
class Segment:
    table: str
    columns: tuple[str, ...]  # output name = column, or "name:column"
    page_model: type


SEGMENTS = {
    "recent-high-value": Segment(
        "marts.crm_member_value_daily",
        ("member_id", "mall_id", "joined_at:joined_at_kst", "paid_total", "paid_orders"),
        RecentHighValuePage,
    ),
    "abandoned-cart": Segment(
        "marts.segment_abandoned_cart",
        (
            "member_id",
            "mall_id",
            "cart_items_added",
            "first_added_at:first_added_at_kst",
            "last_added_at:last_added_at_kst",
        ),
        AbandonedCartPage,
    ),
    "unused-coupons": Segment(
        "marts.segment_unused_coupons",
        ("member_id", "mall_id", "unused_coupons"),
        UnusedCouponsPage,
    ),
}


def _select_list(segment: Segment) -> str:
    parts = []
    for column in segment.columns:
        name, _, source = column.partition(":")
        parts.append(f"{source} as {name}" if source else name)
    return ", ".join(parts)


def _filters(
    name: str, mall_id: int, as_of: date, months: int, min_amount: int
) -> tuple[str, list[Any], dict[str, int]]:
    where, params = "as_of_date = ? and mall_id = ?", [as_of, mall_id]
    if name != "recent-high-value":
        return where, params, {}
    where += " and joined_at_kst >= ? and paid_total >= ?"
    params += [months_before_end_of(as_of, months), min_amount]
    return where, params, {"months": months, "min_amount": min_amount}


@router.get(
    "/{segment}",
    summary="Members of a customer segment as of a day",
    description=(
        "recent-high-value, abandoned-cart or unused-coupons (definitions: "
        "dbt_project/models/metrics.md), for one mall as of "
        "the end of a KST day. `format=csv` or `format=xlsx` downloads the whole segment."
    ),
    response_model=RecentHighValuePage | AbandonedCartPage | UnusedCouponsPage,
)
async def segment_members(
    reader: ReaderDep,
    principal: PrincipalDep,
    audit: AuditDep,
    segment: Annotated[
        str, Path(description="recent-high-value, abandoned-cart or unused-coupons")
    ],
    mall_id: Annotated[int, Query(ge=1, le=MAX_ID, description="The mall.")],
    as_of: Annotated[date, Query(description="KST day D; the segment as of the end of D.")],
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000, description="Members per page.")] = 100,
    months: Annotated[
        int, Query(ge=1, le=MAX_MONTHS, description="recent-high-value: joined within months.")
    ] = 6,
    min_amount: Annotated[
        int, Query(ge=0, le=MAX_ID, description="recent-high-value: paid at least this many KRW.")
    ] = 30_000,
    format: Annotated[
        Format, Query(description="json (paged), csv or xlsx (whole).")
    ] = Format.json,
):
    principal.require_crm(mall_id)
    if segment not in SEGMENTS:
        raise HTTPException(
            404, f"unknown segment {segment!r}; known segments: {', '.join(SEGMENTS)}"
        )
    spec = SEGMENTS[segment]
    await require_as_of_day(reader, as_of)
    await require_known_mall(reader, mall_id)
    where, params, parameters = _filters(segment, mall_id, as_of, months, min_amount)
    query = f"select {_select_list(spec)} from {spec.table} where {where} order by member_id"
    audited = {
        "key_id": principal.key.key_id, "key_name": principal.key.name, "segment": segment,
        "mall_id": mall_id, "as_of": as_of, "format": format.value, "parameters": parameters,
    }  # fmt: skip
    if format is not Format.json:
        columns, batches = await reader.stream(query, params)

        def counted() -> Iterator[list[tuple]]:
            rows = 0
            try:
                for batch in batches:
                    rows += len(batch)
                    yield batch
            finally:  # recorded once the download ends, with what was actually sent
                audit.record(**audited, page=None, rows=rows, wait_for_room=True)

        filename = f"{segment}_mall{mall_id}_{as_of}"
        download = csv_download if format is Format.csv else xlsx_download
        return download(columns, counted(), filename)
    count = await reader.rows(f"select count(*) as n from {spec.table} where {where}", params)
    total = count[0]["n"]
    rows = await reader.rows(
        f"{query} offset ? limit ?", [*params, (page - 1) * page_size, page_size]
    )
    # The marts hold KST wall-clock times; JSON says so with the offset.
    items = [
        {k: v.replace(tzinfo=KST) if isinstance(v, datetime) else v for k, v in row.items()}
        for row in rows
    ]
    await audit.arecord(**audited, page=page, rows=len(items))
    answer = spec.page_model(
        segment=segment,
        mall_id=mall_id,
        as_of=as_of,
        parameters=parameters,
        page=page,
        page_size=page_size,
        total=total,
        items=items,
    )
    # The page is already its segment's model, validated: serialized as it is. Returned as a
    # model, FastAPI would dump it and validate it again against the union of the three page
    # models, a failed try per other segment (a fifth of a request's CPU, docs/performance.md).
    return Response(answer.model_dump_json(), media_type="application/json")
