"""Response models of the platform statistics."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class InstallFigures(BaseModel):
    installs_total: int = Field(description="Installs with installed_at before the end of as_of.")
    installs_active: int = Field(description="Of those, not uninstalled before the end of as_of.")


class PlatformInstalls(InstallFigures):
    platform: str = Field(examples=["ios"])


class MallInstalls(InstallFigures):
    mall_id: int


class AppInstallsResponse(InstallFigures):
    as_of: dt.date
    mall_id: int | None = Field(description="The mall, or null for all malls together.")
    by_platform: list[PlatformInstalls]
    by_mall: list[MallInstalls] = Field(description="Per mall (platform-wide requests only).")


class RankedMall(BaseModel):
    rank: int = Field(description="Rank by the requested figure; ties share a rank.")
    mall_id: int
    members: int = Field(description="Active members.")
    products: int = Field(description="Products on sale.")
    orders_paid: int = Field(description="Orders paid in the 30 days ending with as_of.")
    revenue: int = Field(description="Their total_amount, KRW.")
    members_rank: int
    products_rank: int
    orders_paid_rank: int
    revenue_rank: int


class MallRankingResponse(BaseModel):
    as_of: dt.date
    by: str
    items: list[RankedMall]
