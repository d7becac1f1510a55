"""How the daily rebuild of the visitor marts grows with the history behind it: a few
histories of generated days (same events per day), each fully built, then the last day
rebuilt as the daily DAG rebuilds it; the per-model seconds of that rebuild.

    .venv/bin/python -m bench.visitor_history [--days 7 28] [--events-per-day 200000]

Incremental models read the rebuilt days; the new-and-returning and retention marts count
again from the first rebuilt day (week, month) on, and they and the first-day models read
the row of every visitor ever seen, so part of their time follows the history. Dumps and
homes are kept in --workdir (--skip-load reuses them).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import Phase, console, dump_records, print_phases, run_phase
from bench.model_times import node_seconds, print_model_times, run_results
from transform.settings import TransformSettings

START = date(2026, 1, 5)  # a Monday: the histories are whole KST weeks
WATCHED = (
    "int_weblog__mall_visitor_first_days",
    "int_weblog__visitor_first_days",
    "mall_new_returning_daily",
    "mall_new_returning_monthly",
    "platform_new_returning_daily",
    "platform_new_returning_monthly",
    "mall_retention_weekly",
    "platform_retention_weekly",
)


# A child process, as the scheduler runs it: dbt in this one would keep the build database
# locked and its variables in os.environ for the next home.
REBUILD = """
import sys
from pathlib import Path
from transform.build import transform
from transform.settings import TransformSettings
home, day = Path(sys.argv[1]), sys.argv[2]
transform(TransformSettings(home=home),
          dbt_vars={"rebuild_from": day, "rebuild_to": day, "ingest_lookback_minutes": 0})
"""


def rebuild_day(home: Path, day: str) -> Phase:
    """`dataplat transform --from-day DAY --to-day DAY` as the daily DAG runs it a day later:
    the history was ingested long before, so only DAY is rebuilt (ingest_lookback_minutes 0;
    with the default hour, everything this bench ingested minutes ago would count as new)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", REBUILD, str(home), day], check=True)
    seconds = time.perf_counter() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return Phase(f"the last day rebuilt ({day})", seconds, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, nargs="+", default=[7, 28])
    parser.add_argument("--events-per-day", type=int, default=200_000)
    parser.add_argument("--malls", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/history"))
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded homes")
    args = parser.parse_args()

    rebuild_seconds: dict[str, dict[str, float]] = {}
    for days in args.days:
        dumps = args.workdir / f"dumps-{days}x{args.events_per_day}"
        home = args.workdir / f"home-{days}x{args.events_per_day}"
        last = (START + timedelta(days=days - 1)).isoformat()
        phases = []
        if not (dumps / "_manifest.json").exists():
            generate = ["generate", "--out", str(dumps), "--days", str(days), "--seed", "1"]
            generate += ["--events-per-day", str(args.events_per_day), "--malls", str(args.malls)]
            generate += ["--start", START.isoformat()]
            phases.append(run_phase("generate", generate, args.workdir))
        if not args.skip_load:
            shutil.rmtree(home, ignore_errors=True)
            phases.append(run_phase("ingest", ["ingest", "--from-dir", str(dumps)], home))
            phases.append(
                run_phase("transform (full build)", ["transform", "--full-refresh"], home)
            )
        phases.append(rebuild_day(home, last))
        rebuild_seconds[f"{days} days"] = node_seconds(run_results(TransformSettings(home=home)))
        print_phases(f"{days} days of {args.events_per_day:,} events", phases, dump_records(dumps))
    first = next(iter(rebuild_seconds))
    watched = {
        label: {m: s for m, s in models.items() if m in WATCHED}
        for label, models in rebuild_seconds.items()
    }
    print_model_times(
        "the last day rebuilt: visitor loyalty models", watched, sort_by=first, top=len(WATCHED)
    )
    print_model_times("the last day rebuilt: every model", rebuild_seconds, sort_by=first)
    console.print("Model seconds from dbt's run_results.json of the rebuild run.")


if __name__ == "__main__":
    main()
