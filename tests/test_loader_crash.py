"""Exactly once across crashes: the loader process is SIGKILLed at random points and restarted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lakehouse.catalog import open_catalog
from lakehouse.tables import RAW_TABLES, REJECTED_TABLE
from loader.settings import LoaderSettings as Settings
from tests.conftest import DATAPLAT, run_cli
from tests.processes import check_ended


def records_in_dumps(directory: Path) -> tuple[set[tuple[str, int, int]], int]:
    """Every (topic, partition, offset) that carries a value, and the number of tombstones."""
    coordinates, tombstones = set(), 0
    for path in directory.glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            record = json.loads(line.decode("utf-8", "surrogateescape"))
            if record["payload"] is None and record["topic"] != "weblog.events":
                tombstones += 1
            else:
                coordinates.add((record["topic"], record["partition"], record["offset"]))
    return coordinates, tombstones


def landed_coordinates(settings: Settings) -> tuple[list[tuple[str, int, int]], int]:
    catalog = open_catalog(settings)
    landed, rejected = [], 0
    for name in RAW_TABLES:
        table = catalog.load_table(f"raw.{name}").scan().to_arrow()
        if name == REJECTED_TABLE:
            columns = ["topic", "partition", "offset"]
            rejected = table.num_rows
        else:
            columns = ["_kafka_topic", "_kafka_partition", "_kafka_offset"]
        landed += list(zip(*(table[c].to_pylist() for c in columns), strict=True))
    return landed, rejected


def test_sigkill_at_random_points_neither_loses_nor_duplicates(small_dataset: Path, tmp_path: Path):
    home = tmp_path / "home"
    # Small batches: many commits, so kills land before, between and inside commits. The
    # dumps are read 256 KiB at a time: with the default 32 MiB, the weblog dump is one batch
    # and the run two commits, which a fast loader finishes before the kill.
    env = {**os.environ, "DATAPLAT_HOME": str(home), "DATAPLAT_BATCH_RECORDS": "3000",
           "DATAPLAT_DUMP_CHUNK_BYTES": str(256 << 10)}  # fmt: skip
    settings = Settings(home=home)
    rng = random.Random(20261124)
    partial_states = []
    for _ in range(6):
        # Kill a random moment after a random commit: before, between or inside commits.
        commits_before_kill = rng.randint(1, 3)
        process = subprocess.Popen(
            [*DATAPLAT, "--log-json", "ingest", "--from-dir", str(small_dataset)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        commits = 0
        lines = []
        for line in process.stderr:
            lines.append(line)
            commits += '"batch committed"' in line
            if commits == commits_before_kill:
                time.sleep(rng.uniform(0.0, 0.4))
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        process.stderr.close()
        # Killed by the test, or finished before the kill: never ended by an error.
        check_ended(process, (0, -signal.SIGKILL), "".join(lines))
        if process.returncode == -signal.SIGKILL:
            partial_states.append(len(landed_coordinates(settings)[0]))

    run_cli("ingest", "--from-dir", str(small_dataset), env={"DATAPLAT_HOME": str(home)})

    expected, tombstones = records_in_dumps(small_dataset)
    landed, rejected = landed_coordinates(settings)
    assert len(partial_states) >= 3, "the loader finished before it could be killed"
    assert any(0 < n < len(expected) for n in partial_states), partial_states
    assert len(landed) == len(set(landed)), "a record landed twice"
    assert set(landed) == expected, "a record was lost"
    manifest = json.loads((small_dataset / "_manifest.json").read_text())
    assert tombstones == manifest["cdc_tombstones"]
    assert rejected == sum(manifest["weblog_broken"].values()) + manifest["cdc_broken"]


@pytest.mark.parametrize("batch_records", ["1000000"])
def test_one_batch_run_matches_the_killed_runs(small_dataset: Path, tmp_path: Path, batch_records):
    """The same data in one big batch lands the same records: batching changes nothing."""
    home = tmp_path / "home"
    run_cli(
        "ingest",
        "--from-dir",
        str(small_dataset),
        env={"DATAPLAT_HOME": str(home), "DATAPLAT_BATCH_RECORDS": batch_records},
    )
    expected, _ = records_in_dumps(small_dataset)
    landed, _ = landed_coordinates(Settings(home=home))
    assert sorted(landed) == sorted(expected)
