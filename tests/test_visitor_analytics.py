"""New and returning visitors and retention cohorts when a late event moves a visitor's first
day earlier, across a week boundary: the day and the cohort they were new in lose them, the
earlier ones gain them, and every figure equals tests/reference.py on all events, counted
again by the incremental run from the first rebuilt day's week on (embedded; the same models
on Trino: the parity test of test_platform.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from lakehouse.settings import EngineSettings
from tests.conftest import run_cli
from tests.kcat import write_dump
from tests.late_events import WEBLOG_DUMP, late_first_visit
from tests.reference import load_events, visitor_loyalty

pytestmark = pytest.mark.slow

# Sunday 2026-03-08 ends a KST week; Monday 2026-03-09 starts the next.
SUNDAY, MONDAY = date(2026, 3, 8), date(2026, 3, 9)


def marts(home: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(EngineSettings(home=home).serving_link), read_only=True) as con:
        return {
            "daily": con.execute(
                "select mall_id, date_kst, visitors, new_visitors, returning_visitors "
                "from marts.mall_new_returning_daily"
            ).fetchall(),
            "retention": con.execute(
                "select mall_id, cohort_week, week_offset, cohort_size, retained_visitors "
                "from marts.mall_retention_weekly"
            ).fetchall(),
        }


def expected(events) -> dict[str, list[tuple]]:
    loyalty = visitor_loyalty(events)
    return {
        "daily": [
            (m, d, v["visitors"], v["new_visitors"], v["returning_visitors"])
            for (g, m, d), v in loyalty.new_returning.items()
            if g == "day" and m is not None
        ],
        "retention": [
            (m, c, o, size, kept)
            for (m, c, o), (size, kept) in loyalty.retention.items()
            if m is not None
        ],
    }


def test_a_late_event_makes_a_visitor_new_on_an_earlier_day_and_cohort(tmp_path: Path):
    topics, home = tmp_path / "topics", tmp_path / "home"
    # Two whole KST weeks and the Monday after: the late event's rebuild reaches back to the
    # second week only, so the first week's cohort keeps the size counted before.
    run_cli("generate", "--out", str(topics), "--days", "15", "--events-per-day", "3000",
            "--malls", "3", "--seed", "13", "--start", "2026-02-23")  # fmt: skip
    env = {"DATAPLAT_HOME": str(home)}
    run_cli("ingest", "--from-dir", str(topics), env=env)
    run_cli("transform", env=env)
    before = marts(home)
    assert sorted(before["daily"]) == sorted(expected(load_events(topics))["daily"])
    assert sorted(before["retention"]) == sorted(expected(load_events(topics))["retention"])

    (mall, _), line = late_first_visit(topics, new_on=MONDAY, late_on=SUNDAY,
                                       event_id="late-sunday-visit")  # fmt: skip
    write_dump(tmp_path / "late" / WEBLOG_DUMP, [line])
    run_cli("ingest", "--from-dir", str(tmp_path / "late"), env=env)
    run_cli("transform", env=env)
    after = marts(home)

    events = load_events(topics) + load_events(tmp_path / "late")
    assert sorted(after["daily"]) == sorted(expected(events)["daily"])
    assert sorted(after["retention"]) == sorted(expected(events)["retention"])

    def day(rows, which: date) -> tuple:
        return next(r[2:] for r in rows if r[0] == mall and r[1] == which)

    sunday_before = day(before["daily"], SUNDAY)
    # Sunday gains a visitor, who is new there; Monday keeps its visitors, one fewer new.
    visitors, new, returning = day(after["daily"], SUNDAY)
    assert (visitors, new, returning) == (sunday_before[0] + 1, sunday_before[1] + 1,
                                          sunday_before[2])  # fmt: skip
    monday_before, monday_after = day(before["daily"], MONDAY), day(after["daily"], MONDAY)
    assert monday_after == (monday_before[0], monday_before[1] - 1, monday_before[2] + 1)

    def cohort(rows, week: date, offset: int) -> tuple:
        return next(r[3:] for r in rows if r[0] == mall and r[1] == week and r[2] == offset)

    earlier = SUNDAY - timedelta(days=6)
    assert (
        cohort(after["retention"], earlier, 0)[0] == cohort(before["retention"], earlier, 0)[0] + 1
    )
    assert (
        cohort(after["retention"], earlier, 1)[1] == cohort(before["retention"], earlier, 1)[1] + 1
    )
    assert cohort(after["retention"], MONDAY, 0)[0] == cohort(before["retention"], MONDAY, 0)[0] - 1
