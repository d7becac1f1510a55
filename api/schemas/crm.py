"""Response models of the customer segments (never any personal data such as email)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class RecentHighValueMember(BaseModel):
    member_id: int
    mall_id: int
    joined_at: dt.datetime = Field(description="KST.")
    paid_total: int = Field(description="Paid before the end of as_of, KRW.")
    paid_orders: int


class AbandonedCartMember(BaseModel):
    member_id: int
    mall_id: int
    cart_items_added: int = Field(description="Items added in the 7 days before the end of as_of.")
    first_added_at: dt.datetime = Field(description="KST.")
    last_added_at: dt.datetime = Field(description="KST.")


class UnusedCouponsMember(BaseModel):
    member_id: int
    mall_id: int
    unused_coupons: int = Field(
        description="Coupons held, unused and unexpired at the end of as_of."
    )


class SegmentPage(BaseModel):
    segment: Literal["recent-high-value", "abandoned-cart", "unused-coupons"]
    mall_id: int
    as_of: dt.date
    parameters: dict[str, int] = Field(description="The segment's parameters as applied.")
    page: int
    page_size: int
    total: int = Field(description="Members in the whole segment.")


class RecentHighValuePage(SegmentPage):
    items: list[RecentHighValueMember]


class AbandonedCartPage(SegmentPage):
    items: list[AbandonedCartMember]


class UnusedCouponsPage(SegmentPage):
    items: list[UnusedCouponsMember]
