"""Response models of the visitor statistics (metric names as in metrics.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class VisitorFigures(BaseModel):
    visitors: int = Field(description="Distinct visitor_id with at least one event in the bucket.")
    page_views: int = Field(description="Events of type page_view or product_view.")
    hits: int = Field(description="Events of any type.")
    sessions: int = Field(
        description="Sessions (30-minute rule) whose first event is in the bucket."
    )
    members_visited: int = Field(description="Distinct logged-in member_id in the bucket.")


class HourlyItem(VisitorFigures):
    hour: dt.datetime = Field(
        description="Start of the KST hour.", examples=["2026-01-30T13:00:00+09:00"]
    )


class DailyItem(VisitorFigures):
    date: dt.date = Field(description="KST calendar day.")


class MonthlyItem(VisitorFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class VisitorSeries(BaseModel):
    scope: Literal["platform", "mall"] = Field(description="All malls together, or one mall.")
    mall_id: int | None = Field(description="The mall, or null for platform-wide figures.")
    timezone: Literal["Asia/Seoul"] = "Asia/Seoul"


class HourlyResponse(VisitorSeries):
    date: dt.date
    items: list[HourlyItem]


class DailyResponse(VisitorSeries):
    start: dt.date
    end: dt.date
    items: list[DailyItem] = Field(description="Days of the range within the data, in order.")


class MonthlyResponse(VisitorSeries):
    start: str
    end: str
    items: list[MonthlyItem] = Field(description="Months of the range within the data, in order.")


class TopMall(BaseModel):
    rank: int = Field(ge=1)
    mall_id: int
    visitors: int


class TopMallsResponse(BaseModel):
    date: dt.date
    items: list[TopMall] = Field(description="Malls with most visitors; ties → smaller mall_id.")


class TopPage(BaseModel):
    rank: int = Field(ge=1)
    url: str
    page_views: int


class TopPagesResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[TopPage] = Field(description="URLs with most page_views; ties → smaller url.")


class TopProduct(BaseModel):
    rank: int = Field(ge=1)
    product_id: int
    product_views: int


class TopProductsResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[TopProduct] = Field(
        description="Products with most product_view events; ties → smaller product_id."
    )
