"""The same generated days through both engines: DuckDB (embedded: SQLite catalog, local
files) and Trino (platform: PostgreSQL catalog, `make platform-up`), side by side.

    make platform-up
    .venv/bin/python -m bench.engines [--events-per-day 2000000] [--days 1] [--malls 200] \
        [--only duckdb|trino]

Per engine: `dataplat ingest --from-dir` of every record but the last hour's (files →
Iceberg, into that engine's catalog), `dataplat transform --full-refresh`, `dataplat
transform` with nothing new (within `ingest_lookback_minutes` of the ingest, so the days
ingested in the last hour are rebuilt all the same), then the last hour ingested, and two
runs on it: what the hourly DAG builds (`--select +tag:hourly`: the hourly marts and what
they read), the hourly run of issue #15's goal, then the whole project, as the daily DAG
and a manual `dataplat transform` build it. Then seconds per model of the transforms
(bench/model_times.py), and on Trino the Iceberg snapshots each incremental model gained in
each of the last two runs, with the data files they dropped and the delete files they wrote.
The Trino half RESETS THE PLATFORM (Iceberg catalog, warehouse, topics) first: never run it
while something else (tests/test_platform.py) uses the servers. Dumps are kept in --workdir,
moved into two folders: all but the last hour, the last hour.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table

from bench.common import Phase, console, dump_records, run_phase
from bench.kafka_loader import (
    dataplat_environment,
    dumps_folder,
    generate_dumps,
    platform_env,
    require_platform,
)
from bench.model_times import (
    incremental_tables,
    node_seconds,
    print_model_times,
    print_snapshots,
    run_results,
    snapshot_summaries,
)
from infra import platform
from loader.file_source import dump_files
from transform.settings import TransformSettings

ENGINES = {"duckdb": "DuckDB (embedded)", "trino": "Trino (platform)"}
PHASES = (
    "ingest (files → Iceberg; all but the last hour)",
    "transform --full-refresh",
    "transform (incremental, nothing new)",
    "ingest (the last hour)",
    "transform --select +tag:hourly (the hourly DAG, after the new hour)",
    "transform (incremental, the whole project, after that)",
)
TRANSFORMS = {1: "full", 2: "nothing-new", 4: "hourly", 5: "whole-after-hourly"}
# What the hourly DAG builds (orchestration/dbt.py): the hourly marts and all they read, with
# the tests of those models only (a test that also reads a model of another schedule runs
# in that schedule's DAG: dbt's "cautious" indirect selection).
HOURLY_RUN = (["transform", "--select", "+tag:hourly"], {"DBT_INDIRECT_SELECTION": "cautious"})
WHOLE_RUN = (["transform"], {})
ARRIVAL = re.compile(rb'"ts":(\d+)')


@dataclass
class EngineRun:
    phases: list[Phase]
    # Per transform phase (TRANSFORMS): dbt's run_results.json (also kept in the home).
    run_results: list[dict]
    # Per run after the new hour (hourly, whole project): the Iceberg snapshot summaries of
    # every incremental model's table before and after it (Trino only).
    snapshots: list[tuple[dict[str, list[dict]], dict[str, list[dict]]]]


def _arrivals(path: Path) -> tuple[array, array]:
    """Each line's arrival time (kcat's ``ts``; 0 for a line without one) and the byte
    where the line starts, read line by line (a dump may be larger than memory)."""
    times, starts = array("q"), array("q")
    position = 0
    with path.open("rb") as handle:
        for line in handle:
            found = ARRIVAL.search(line)
            times.append(int(found[1]) if found else 0)
            starts.append(position)
            position += len(line)
    return times, starts


def split_folders(dumps: Path) -> tuple[Path, Path]:
    """The folders split_last_hour moves the dumps into."""
    return dumps.with_name(dumps.name + "-but-1h"), dumps.with_name(dumps.name + "-last-1h")


def split_last_hour(dumps: Path, days: int) -> tuple[Path, Path]:
    """Splits the generated dumps into every record but those that reached Kafka last, and
    those: as many as an average hour of the data set brings, 1/(24 * days) of them (the
    generator writes each topic in arrival order). Returns the two folders,
    ``<dumps>-but-1h`` and ``<dumps>-last-1h``; ingesting them in that order lands the whole
    data set. The dumps are moved, not copied (the 80,000,000-event day's are 51 GB): the
    last hour's lines are copied out, each dump truncated before them, the folder renamed.
    Each folder keeps the generator's manifest, which counts the whole set."""
    heads, last_hour = split_folders(dumps)
    if (last_hour / "_manifest.json").exists():
        return heads, last_hour
    marker = dumps / "_splitting"
    if marker.exists() or (heads / "_splitting").exists():
        raise RuntimeError(
            f"an earlier split of {dumps} stopped halfway: delete {dumps}* and re-run"
        )
    scanned = {path: _arrivals(path) for path in dump_files(dumps)}
    every = pa.concat_arrays([pa.array(times, pa.int64()) for times, _ in scanned.values()])
    latest = pc.select_k_unstable(every, max(1, len(every) // (24 * days)), [("", "descending")])
    cutoff = pc.min(pc.take(every, latest)).as_py()
    partial = last_hour.with_name(last_hour.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cuts = {}
    for path, (times, starts) in scanned.items():
        # From the first record at or past the cutoff on (a line without ts keeps its place).
        first = pc.index(pc.greater_equal(pa.array(times, pa.int64()), cutoff), True).as_py()
        cuts[path] = starts[first] if first >= 0 else path.stat().st_size
        with path.open("rb") as source, (partial / path.name).open("wb") as tail:
            source.seek(cuts[path])
            shutil.copyfileobj(source, tail, 1 << 24)
    # From here on the dumps are changed: the marker stays until both folders are in place.
    marker.touch()
    for path, cut in cuts.items():
        os.truncate(path, cut)
    shutil.copy(dumps / "_manifest.json", partial / "_manifest.json")
    shutil.rmtree(heads, ignore_errors=True)  # a copy an earlier version of this bench made
    dumps.rename(heads)
    partial.rename(last_hour)
    (heads / marker.name).unlink()
    return heads, last_hour


def run_engine(
    without_last_hour: Path, last_hour: Path, home: Path, *, count_snapshots: bool
) -> EngineRun:
    """The phases (PHASES), with the settings in os.environ."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    settings = TransformSettings(home=home)
    phases = [run_phase(PHASES[0], ["ingest", "--from-dir", str(without_last_hour)], home)]
    results = []
    phases.append(run_phase(PHASES[1], ["transform", "--full-refresh"], home))
    results.append(run_results(settings))
    phases.append(run_phase(PHASES[2], ["transform"], home))
    results.append(run_results(settings))
    tables = incremental_tables(settings) if count_snapshots else []
    phases.append(run_phase(PHASES[3], ["ingest", "--from-dir", str(last_hour)], home))
    snapshots = []
    for phase, (args, env) in ((4, HOURLY_RUN), (5, WHOLE_RUN)):
        before = snapshot_summaries(settings, tables)
        phases.append(run_phase(PHASES[phase], args, home, env))
        results.append(run_results(settings))
        snapshots.append((before, snapshot_summaries(settings, tables)))
    for name, kept in zip(TRANSFORMS.values(), results, strict=True):
        (home / f"run_results-{name}.json").write_text(json.dumps(kept))
    return EngineRun(phases, results, snapshots if count_snapshots else [])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events-per-day", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--malls", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/engines"))
    parser.add_argument("--only", choices=sorted(ENGINES), help="run one engine only")
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    engines = [args.only] if args.only else list(ENGINES)
    results: dict[str, EngineRun] = {}
    dumps = dumps_folder(workdir, args.events_per_day, args.days, args.malls, 1)
    heads, last_hour = split_folders(dumps)
    if not (last_hour / "_manifest.json").exists() and not heads.exists():
        with dataplat_environment({}):
            generate_dumps(workdir, args.events_per_day, args.days, args.malls, 1)
    started = time.perf_counter()
    without_last_hour, last_hour = split_last_hour(dumps, args.days)
    console.print(f"dumps split at their last hour in {time.perf_counter() - started:,.1f} s")
    if "trino" in engines:
        require_platform()  # before the long embedded half, not after it
    if "duckdb" in engines:
        # No DATAPLAT_* setting but the home run_phase sets: every default is embedded.
        with dataplat_environment({}):
            results["duckdb"] = run_engine(
                without_last_hour, last_hour, workdir / "embedded", count_snapshots=False
            )
    if "trino" in engines:
        # The raw tables land in the PostgreSQL catalog (file ingest works against any
        # catalog); DATAPLAT_ENGINE=trino makes dbt build on Trino.
        # A Trino started minutes before builds up to twice as slowly as one up for an hour
        # (docs/performance.md): the ratio says little without the server's uptime.
        info = platform.trino_info() or {}
        trino_uptime = info.get("uptime", "unknown")
        with dataplat_environment({**platform_env(), "DATAPLAT_ENGINE": "trino"}):
            platform.reset()
            results["trino"] = run_engine(
                without_last_hour, last_hour, workdir / "platform", count_snapshots=True
            )

    landed = dump_records(without_last_hour)
    records = landed + dump_records(last_hour)
    table = Table(title=f"{args.days} day(s), {records:,} records: seconds per phase and engine")
    table.add_column("phase")
    for engine in engines:
        table.add_column(f"{ENGINES[engine]} s", justify="right")
    if len(engines) == 2:
        table.add_column("Trino / DuckDB", justify="right")
    for i, name in enumerate(PHASES):
        seconds = [results[engine].phases[i].seconds for engine in engines]
        row = [name, *(f"{s:,.1f}" for s in seconds)]
        if len(seconds) == 2:
            row.append(f"{seconds[1] / seconds[0]:,.2f}x")
        table.add_row(*row)
    console.print(table)
    for engine in engines:
        ingest = results[engine].phases[0]
        console.print(f"{ENGINES[engine]}: ingest {landed / ingest.seconds:,.0f} records/s")
    for i, phase in enumerate(TRANSFORMS):
        name = PHASES[phase]
        done = {ENGINES[engine]: results[engine].run_results[i] for engine in engines}
        print_model_times(
            f"{name}: seconds per model (dbt's execution_time)",
            {engine: node_seconds(kept) for engine, kept in done.items()},
            sort_by=ENGINES[engines[-1]],
            extra={
                "tests": {e: sum(node_seconds(kept, "test").values()) for e, kept in done.items()},
                "unit_tests": {
                    e: sum(node_seconds(kept, "unit_test").values()) for e, kept in done.items()
                },
                "dbt": {e: float(kept["elapsed_time"]) for e, kept in done.items()},
            },
        )
    if "trino" in results:
        for phase, (before, after) in zip((4, 5), results["trino"].snapshots, strict=True):
            print_snapshots(before, after, run=PHASES[phase])
    console.print(
        "seconds: wall time of each `dataplat` command; Trino's own CPU and memory are those "
        f"of its server process, outside them. Machine: {os.cpu_count()} cores."
    )
    if "trino" in results:
        console.print(f"Trino was up {trino_uptime} when its half of the bench started.")


if __name__ == "__main__":
    main()
