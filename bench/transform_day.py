"""One day at production scale through the embedded pipeline: generate, ingest, transform.

    .venv/bin/python -m bench.transform_day [--events-per-day 80000000] [--malls 2000]

Generated dumps and the loaded warehouse are kept in --workdir, so a re-run with
--skip-load times the transform alone (the second transform is incremental: nothing new).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench.common import dump_records, print_phases, run_phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events-per-day", type=int, default=80_000_000)
    parser.add_argument("--malls", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/day"))
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded warehouse")
    args = parser.parse_args()

    dumps = args.workdir / f"dumps-{args.events_per_day}"
    home = args.workdir / "home"
    phases = []
    if not (dumps / "_manifest.json").exists():
        phases.append(run_phase(
            "generate",
            ["generate", "--out", str(dumps), "--days", "1", "--events-per-day",
             str(args.events_per_day), "--malls", str(args.malls), "--seed", "1"],
            args.workdir,
        ))  # fmt: skip
    if not args.skip_load:
        shutil.rmtree(home, ignore_errors=True)
        phases.append(run_phase("ingest", ["ingest", "--from-dir", str(dumps)], home))
    phases.append(run_phase("transform (full build)", ["transform", "--full-refresh"], home))
    phases.append(run_phase("transform (incremental, no new data)", ["transform"], home))
    print_phases(f"one day of {args.events_per_day:,} events", phases, dump_records(dumps))


if __name__ == "__main__":
    main()
