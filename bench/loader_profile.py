"""Where the loader's time goes: a py-spy profile of `dataplat ingest`, summed per stage.

    py-spy record --rate 50 --native -f raw -o /tmp/ingest.folded -- \\
        .venv/bin/python -m dataplat.cli --log-level WARNING ingest --from-dir DUMPS
    .venv/bin/python -m bench.loader_profile /tmp/ingest.folded

py-spy's raw format is one line per stack (frames from the thread's root, `;`-separated) and
its sample count. A sample counts for the first stage whose pattern its stack matches; the
pool threads pyiceberg writes Parquet with, and idle waits, are shown apart.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (stage, pattern on the stack), first match wins.
STAGES = (
    ("idle: pool threads waiting for work", r"_worker \(concurrent/futures.*SimpleQueue_get"),
    ("idle: read-ahead waiting for the loader to take its chunk", r"_read_ahead.*Queue\.put"),
    # The sink's commit thread (a pool thread too), before pyiceberg's pool threads.
    ("commit: Iceberg append (Parquet, manifests, catalog)", r"Coordinator\.apply"),
    ("Parquet write (pyiceberg's pool threads)", r"_worker \(concurrent/futures"),
    ("read ahead: dump chunks read and parsed", r"dump-read-ahead|_read_ahead.*run|_read_batches"),
    ("Kafka: consume and build Arrow batches", r"KafkaSource\.poll"),
    # The query itself: _parse_weblog, or (before it existed) convert's call into DuckDB.
    (
        "weblog: DuckDB parse and validation",
        r"_parse_weblog|convert \(loader/converter.py:\d+\);0x",
    ),
    ("weblog: split into rows and rejections", r"_take_weblog"),
    ("CDC: per-record Python (parse_cdc)", r"_take_cdc"),
    ("dump envelopes parsed (main thread)", r"file_source"),
    ("buffers: dedupe, concat, _ingested_at", r"SinkWriter\.drain"),
    ("other sink work", r"IcebergSink\."),
    ("start-up: imports, catalog", r"_find_and_load|ensure_raw_tables|open_sink"),
)


def summarise(path: Path) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        stage = next((name for name, rx in STAGES if re.search(rx, stack)), "other")
        counts[stage] += int(number)
    return counts.most_common()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folded", type=Path, help="py-spy record -f raw output")
    args = parser.parse_args()
    rows = summarise(args.folded)
    busy = sum(n for name, n in rows if not name.startswith("idle"))
    print(f"{'share of busy samples':>22}  {'samples':>8}  stage")
    for name, number in rows:
        share = "" if name.startswith("idle") else f"{number / busy:.1%}"
        print(f"{share:>22}  {number:>8}  {name}")
    print(f"busy samples: {busy} (all threads; 50 per second of one thread's time at --rate 50)")


if __name__ == "__main__":
    main()
