"""dbt's data-quality checks on the embedded engine, on nine generated days in which one mall
has half its usual hits on the last complete day and another none at all: the volume check
and the check that malls with hits the day before have hits warn, naming them, and the build
still publishes. (The daily DAG sending such warnings to the webhook: test_orchestration.py;
the same checks on Trino: test_platform.py.)"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.conftest import run_cli
from tests.marts import published_marts
from transform.settings import TransformSettings

pytestmark = pytest.mark.slow

KST = ZoneInfo("Asia/Seoul")
FIRST_DAY = "2026-03-01"
# The ninth generated day; the tenth holds only the spill-over of late events, so a build
# without requested days checks the ninth (the newest complete one).
CHECKED_DAY = "2026-03-09"
HALVED_MALL, SILENT_MALL = 2, 4


def kst_day_and_mall(line: bytes) -> tuple[str, object] | None:
    """The KST day and mall of a weblog record of a kcat dump; None when it has none."""
    try:
        event = json.loads(json.loads(line)["payload"])
        day = datetime.fromisoformat(event["event_time"]).astimezone(KST).date().isoformat()
        return day, event["mall_id"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def thin_out(weblog_dump: Path) -> dict[int, int]:
    """On CHECKED_DAY, every other hit of HALVED_MALL and every hit of SILENT_MALL leave the
    dump; returns how many hits of each mall were dropped."""
    kept, dropped, seen = [], {HALVED_MALL: 0, SILENT_MALL: 0}, 0
    for line in weblog_dump.read_bytes().splitlines(keepends=True):
        found = kst_day_and_mall(line)
        if found == (CHECKED_DAY, HALVED_MALL):
            seen += 1
            if seen % 2 == 0:
                dropped[HALVED_MALL] += 1
                continue
        elif found == (CHECKED_DAY, SILENT_MALL):
            dropped[SILENT_MALL] += 1
            continue
        kept.append(line)
    weblog_dump.write_bytes(b"".join(kept))
    return dropped


@pytest.fixture(scope="module")
def thinned_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An embedded home built from the thinned days; the output of its `dataplat transform`."""
    root = tmp_path_factory.mktemp("data-quality")
    run_cli(
        "generate", "--out", str(root / "topics"), "--days", "9", "--events-per-day", "4000",
        "--malls", "4", "--seed", "5", "--start", FIRST_DAY,
    )  # fmt: skip
    dropped = thin_out(root / "topics" / "weblog.events.jsonl")
    assert dropped[HALVED_MALL] > 300 and dropped[SILENT_MALL] > 300, dropped
    env = {"DATAPLAT_HOME": str(root / "home")}
    run_cli("ingest", "--from-dir", str(root / "topics"), env=env)
    built = run_cli("transform", env=env)
    return root / "home", built.stdout + built.stderr


def volume_checks(home: Path) -> dict[tuple[str, int], tuple]:
    """(day, mall) → (hits, hits the day before, average of the 7 days before, status)."""
    with duckdb.connect(str(TransformSettings(home=home).duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select date_kst, mall_id, hits, hits_day_before, trailing_average_hits, "
            "volume_status from monitoring.mall_volume_checks"
        ).fetchall()
    return {(str(day), mall): tuple(rest) for day, mall, *rest in rows}


def daily_hits(home: Path) -> dict[tuple[str, int], int]:
    columns, rows = published_marts(home)["mall_visitors_daily"]
    day, mall, hits = (columns.index(c) for c in ("date_kst", "mall_id", "hits"))
    return {(str(row[day]), row[mall]): row[hits] for row in rows}


def test_half_the_usual_hits_warn_and_so_do_no_hits_after_a_day_with_hits(
    thinned_home: tuple[Path, str],
):
    home, said = thinned_home
    checks = volume_checks(home)
    assert {key[0] for key in checks} == {CHECKED_DAY}, "the newest complete day is checked"
    assert {mall: status for (_, mall), (*_, status) in checks.items()} == {
        1: "ok", HALVED_MALL: "low", 3: "ok", SILENT_MALL: "stopped"}  # fmt: skip

    # The figures are the published mart's: hits that day, the day before, and the mean of
    # the seven days before (days without hits count as zero).
    hits = daily_hits(home)
    days = sorted({day for day, _ in hits})
    before = days[days.index(CHECKED_DAY) - 8 : days.index(CHECKED_DAY)]
    for (day, mall), (today, yesterday, average, _) in checks.items():
        assert today == hits.get((day, mall), 0)
        assert yesterday == hits[(before[-1], mall)]
        assert average == pytest.approx(sum(hits.get((d, mall), 0) for d in before[-7:]) / 7)
    halved = checks[(CHECKED_DAY, HALVED_MALL)]
    assert 0.4 < halved[0] / halved[2] < 0.7, halved

    # Both tests warn, once each, and the build goes on to publish.
    assert "Warning in test assert_mall_hits_are_within_the_usual_band" in said
    assert "Warning in test assert_malls_with_hits_the_day_before_have_hits" in said
    assert said.count("Got 1 result, configured to warn if != 0") == 2, said[-3000:]
    assert (CHECKED_DAY, HALVED_MALL) in hits


def test_requested_days_are_each_checked(thinned_home: tuple[Path, str]):
    """A backfill of two days checks both; the day before the thinned one is ordinary."""
    home, _ = thinned_home
    run_cli("transform", "--from-day", "2026-03-08", "--to-day", CHECKED_DAY,
            env={"DATAPLAT_HOME": str(home)})  # fmt: skip
    checks = volume_checks(home)
    assert {day for day, _ in checks} == {"2026-03-08", CHECKED_DAY}
    assert {checks[("2026-03-08", mall)][-1] for mall in range(1, 5)} == {"ok"}
    assert checks[(CHECKED_DAY, HALVED_MALL)][-1] == "low"
    assert checks[(CHECKED_DAY, SILENT_MALL)][-1] == "stopped"
