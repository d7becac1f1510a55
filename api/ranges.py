"""Date and month ranges of requests: checks with messages that say what to fix."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from fastapi import HTTPException

from api.coverage import Coverage
from api.settings import ApiSettings

# Years 0001 to 9999 (0000 has no calendar; data may hold any of the others).
MONTH_PATTERN = r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])$"


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


def month_index(day: date) -> int:
    """Months since year 0: month arithmetic that never builds a date Python cannot hold."""
    return day.year * 12 + day.month - 1


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
    covered = range(
        month_index(max(first, coverage.first.replace(day=1))),
        month_index(min(last, coverage.last)) + 1,
    )
    return [date(index // 12, index % 12 + 1, 1) for index in covered]


def months_before_end_of(day: date, months: int) -> datetime:
    """The end of KST day D (00:00 of D+1) moved back whole calendar months, clamped to the
    month's last day (as SQL interval arithmetic), and to the first moment Python holds.
    Works for D = 9999-12-31, whose end (year 10000) Python cannot hold itself."""
    end = (10000, 1, 1) if day == date.max else (day + timedelta(days=1)).timetuple()[:3]
    year, month = divmod(end[0] * 12 + end[1] - 1 - months, 12)
    if year < 1:
        return datetime.min
    return datetime(year, month + 1, min(end[2], calendar.monthrange(year, month + 1)[1]))
