"""Date and month ranges of requests: checks with messages that say what to fix."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from fastapi import HTTPException

from api.coverage import Coverage
from api.settings import ApiSettings

MONTH_PATTERN = r"^[1-9]\d{3}-(0[1-9]|1[0-2])$"  # year 0000 has no calendar


def checked_days(start: date, end: date, settings: ApiSettings, coverage: Coverage) -> list[date]:
    """The days of [start, end] within the data, after checking the range."""
    if start > end:
        raise HTTPException(400, f"start ({start}) must not be after end ({end})")
    days = (end - start).days + 1
    if days > settings.max_daily_range_days:
        raise HTTPException(
            400, f"the range has {days} days; at most {settings.max_daily_range_days} are allowed"
        )
    first, last = max(start, coverage.first), min(end, coverage.last)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def month_start(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def checked_months(start: str, end: str, settings: ApiSettings, coverage: Coverage) -> list[date]:
    """First days of the months of [start, end] (YYYY-MM) within the data."""
    first, last = month_start(start), month_start(end)
    if first > last:
        raise HTTPException(400, f"start ({start}) must not be after end ({end})")
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if months > settings.max_monthly_range_months:
        raise HTTPException(
            400,
            f"the range has {months} months; at most {settings.max_monthly_range_months} "
            "are allowed",
        )
    month, covered_last = max(first, coverage.first.replace(day=1)), min(last, coverage.last)
    result = []
    while month <= covered_last:
        result.append(month)
        month = next_month(month)
    return result


def months_before(moment: datetime, months: int) -> datetime:
    """Calendar months back, clamped to the month's last day (as SQL interval arithmetic)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
