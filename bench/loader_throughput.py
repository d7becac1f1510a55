"""Loader throughput from kcat dump files into Iceberg: events/s and peak memory.

.venv/bin/python -m bench.loader_throughput [--events 2000000] [--malls 200]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench.common import dump_records, print_phases, run_phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000, help="weblog events (one day)")
    parser.add_argument("--malls", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/loader"))
    args = parser.parse_args()

    dumps = args.workdir / f"dumps-{args.events}"
    if not (dumps / "_manifest.json").exists():
        run_phase(
            "generate",
            ["generate", "--out", str(dumps), "--days", "1", "--events-per-day",
             str(args.events), "--malls", str(args.malls), "--seed", "1"],
            args.workdir,
        )  # fmt: skip
    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    phase = run_phase("ingest (files → Iceberg)", ["ingest", "--from-dir", str(dumps)], home)
    print_phases("loader throughput", [phase], dump_records(dumps))


if __name__ == "__main__":
    main()
