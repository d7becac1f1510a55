"""Response models of the order statistics and the funnel (names as in metrics.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class OrderFigures(BaseModel):
    orders_paid: int = Field(description="Orders whose paid_at falls in the bucket.")
    revenue: int = Field(description="Sum of their total_amount, KRW.")
    aov: float | None = Field(description="revenue / orders_paid; null without paid orders.")
    orders_cancelled: int = Field(
        description="Orders now cancelled or refunded whose updated_at falls in the bucket."
    )


class DailyOrders(OrderFigures):
    date: dt.date


class MonthlyOrders(OrderFigures):
    month: str = Field(examples=["2026-01"])


class OrdersSeries(BaseModel):
    scope: Literal["platform", "mall"]
    mall_id: int | None
    timezone: Literal["Asia/Seoul"] = "Asia/Seoul"


class DailyOrdersResponse(OrdersSeries):
    start: dt.date
    end: dt.date
    items: list[DailyOrders]


class MonthlyOrdersResponse(OrdersSeries):
    start: str
    end: str
    items: list[MonthlyOrders]


class FunnelDay(BaseModel):
    date: dt.date
    sessions: int = Field(description="Sessions whose first event is on the day.")
    product_view_sessions: int
    add_to_cart_sessions: int
    checkout_sessions: int
    purchase_sessions: int
    product_view_to_purchase: float | None = Field(
        description="Share of sessions with a product_view that also have a purchase."
    )
    add_to_cart_to_purchase: float | None
    checkout_to_purchase: float | None


class FunnelResponse(OrdersSeries):
    start: dt.date
    end: dt.date
    items: list[FunnelDay]
