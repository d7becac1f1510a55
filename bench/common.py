"""Helpers for benchmarks: run a phase as a child process, measure wall time and peak memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

DATAPLAT = [sys.executable, "-m", "dataplat.cli", "--log-level", "WARNING"]
# Redirected to a file, rich would cut tables to 80 columns and the model names with them.
console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass
class Phase:
    name: str
    seconds: float
    peak_rss_mib: float


def run_phase(name: str, args: list[str], home: Path, env: dict[str, str] | None = None) -> Phase:
    """Runs one dataplat command in a fresh process (os.environ, then ``env``); peak RSS is
    that process's own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    environment = {**os.environ, **(env or {}), "DATAPLAT_HOME": str(home)}
    subprocess.run([*DATAPLAT, *args], env=environment, check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far (KiB on Linux).
    return Phase(name, seconds, max(peak, before) / 1024)


def dump_records(directory: Path) -> int:
    total = 0
    for path in directory.glob("*.jsonl"):
        with path.open("rb") as handle:
            total += sum(
                chunk.count(b"\n") for chunk in iter(lambda h=handle: h.read(1 << 24), b"")
            )
    return total


def print_phases(title: str, phases: list[Phase], records: int) -> None:
    table = Table(title=title)
    for column in ("phase", "seconds", "records/s", "peak RSS (MiB)"):
        table.add_column(column, justify="right")
    for phase in phases:
        table.add_row(
            phase.name,
            f"{phase.seconds:,.1f}",
            f"{records / phase.seconds:,.0f}",
            f"{phase.peak_rss_mib:,.0f}",
        )
    console.print(table)
    console.print(f"machine: {os.cpu_count()} cores; records in dumps: {records:,}")
