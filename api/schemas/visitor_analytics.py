"""Response models of the visitor analytics (definitions: the visitor analytics docs blocks
of dbt_project/models/metrics.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.visitors import VisitorSeries


class ChannelFigures(BaseModel):
    channel: str = Field(description="web, mobile_web, app, or unknown (no channel sent).")
    visitors: int = Field(description="Distinct visitors with an event of the channel.")
    sessions: int = Field(description="Sessions whose first event has the channel.")
    hits: int = Field(description="Events of the channel.")


class ChannelDay(ChannelFigures):
    date: dt.date = Field(description="KST calendar day.")


class ChannelMonth(ChannelFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class EngagementFigures(BaseModel):
    sessions: int = Field(description="Sessions whose first event is in the bucket.")
    bounces: int = Field(description="Sessions of exactly one event.")
    bounce_rate: float | None = Field(description="bounces / sessions; null without sessions.")
    session_seconds: int = Field(
        description="Sum of each session's first-to-last-event time in whole seconds."
    )
    avg_session_seconds: float | None = Field(
        description="session_seconds / sessions; null without sessions."
    )


class EngagementDay(EngagementFigures):
    date: dt.date = Field(description="KST calendar day.")


class EngagementMonth(EngagementFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class AnalyticsSeries(VisitorSeries):
    grain: Literal["day", "month"]
    start: str
    end: str


class ChannelsResponse(AnalyticsSeries):
    items: list[ChannelDay] | list[ChannelMonth] = Field(
        description="Per bucket of the range within the data, in order, a row per channel "
        "with events (channels in name order)."
    )


class EngagementResponse(AnalyticsSeries):
    items: list[EngagementDay] | list[EngagementMonth] = Field(
        description="Every bucket of the range within the data, in order (zeros and nulls "
        "where no session started)."
    )


class LandingPage(BaseModel):
    rank: int = Field(ge=1)
    url: str
    sessions: int = Field(description="Sessions whose first event was on the URL.")


class LandingPagesResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[LandingPage] = Field(
        description="URLs that started most sessions; ties → smaller url."
    )


class TrafficSource(BaseModel):
    rank: int = Field(ge=1)
    source: str = Field(
        description="The referrer's host without one leading www. or m.; (direct) without a "
        "referrer, (unknown) for a referrer without a host."
    )
    sessions: int = Field(description="Sessions whose first event came from the source.")


class TrafficSourcesResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[TrafficSource] = Field(
        description="Sources that brought most sessions; ties → smaller source."
    )
