"""Kafka loader throughput on the local platform broker: publish a generated day, then time
`dataplat ingest --from-kafka` draining it into Iceberg while its memory is sampled.

    make platform-up
    .venv/bin/python -m bench.kafka_loader [--events-per-day 2000000] [--days 1] [--malls 200]

RESETS THE PLATFORM (Iceberg catalog, warehouse, every topic) before publishing: never run it
while something else (tests/test_platform.py) uses the servers. Dumps are kept in --workdir
and reused by the next run with the same arguments.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from bench.common import DATAPLAT, Phase, console, dump_records, print_phases, run_phase
from infra import platform
from lakehouse.tables import RAW_NAMESPACE, RAW_TABLES

# The DATAPLAT_ settings a shell may have exported (`make platform-up` prints
# some); the benchmarks set them themselves. DATAPLAT_PLATFORM_* (infra/platform.py) stay.
SETTINGS_PREFIX = "DATAPLAT_"
KEEP = ("DATAPLAT_PLATFORM_",)


def platform_env() -> dict[str, str]:
    """The settings that point `dataplat` at the local servers, from infra.platform."""
    pairs = (line.split("=", 1) for line in platform.environment().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


@contextmanager
def dataplat_environment(values: dict[str, str]) -> Iterator[None]:
    """Runs the block with exactly these DATAPLAT_* settings in os.environ (which run_phase
    passes on), none inherited from the shell; restores the environment afterwards."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(SETTINGS_PREFIX)]:
        if not key.startswith(KEEP):
            del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def require_platform() -> None:
    """Fails with a hint unless PostgreSQL and Kafka of `make platform-up` answer."""
    for name, port in (("postgres", platform.PG_PORT), ("kafka", platform.KAFKA_PORT)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            raise SystemExit(
                f"{name} does not answer on 127.0.0.1:{port}: run `make platform-up` first"
            ) from None


def dumps_folder(workdir: Path, events: int, days: int, malls: int, seed: int) -> Path:
    """Where the data set for these arguments is generated."""
    return workdir / f"dumps-{events}x{days}d-{malls}m-seed{seed}"


def generate_dumps(workdir: Path, events: int, days: int, malls: int, seed: int) -> Path:
    """The generated data set for these arguments, generated once and then reused."""
    dumps = dumps_folder(workdir, events, days, malls, seed)
    if not (dumps / "_manifest.json").exists():
        phase = run_phase(
            "generate",
            ["generate", "--out", str(dumps), "--days", str(days), "--events-per-day",
             str(events), "--malls", str(malls), "--seed", str(seed)],
            workdir,
        )  # fmt: skip
        console.print(f"generated {dumps} in {phase.seconds:,.1f} s")
    return dumps


@dataclass
class Sample:
    second: float  # since the process started
    rss_mib: float


def rss_mib(pid: int) -> float | None:
    """VmRSS of a live process; None once it has exited (a zombie has no VmRSS line)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


@dataclass
class SampledPhase:
    phase: Phase
    samples: list[Sample]
    started_at: float  # the child's start, seconds since the epoch


def run_sampled(name: str, args: list[str], home: Path, interval: float = 1.0) -> SampledPhase:
    """Like bench.common.run_phase, and samples the child's RSS every `interval` seconds.

    The child is reaped with os.wait4, so the peak RSS is this process's own (run_phase's
    RUSAGE_CHILDREN is the largest of every child so far, generate and publish included)."""
    env = {**os.environ, "DATAPLAT_HOME": str(home)}
    started_at = time.time()
    started = time.perf_counter()
    process = subprocess.Popen([*DATAPLAT, *args], env=env)
    samples: list[Sample] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = rss_mib(process.pid)
            if rss is not None:
                samples.append(Sample(time.perf_counter() - started, rss))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        raise
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, [*DATAPLAT, *args])
    return SampledPhase(Phase(name, seconds, usage.ru_maxrss / 1024), samples, started_at)


def rss_at(samples: list[Sample], second: float) -> Sample | None:
    """The last sample taken at or before `second` (the first one if none was)."""
    before = [s for s in samples if s.second <= second]
    return before[-1] if before else (samples[0] if samples else None)


def publish_phase(dumps: Path, home: Path, env: dict[str, str]) -> Phase:
    """`dataplat publish` of the dumps into the platform broker."""
    return run_phase(
        "publish (files → Kafka)",
        ["publish", "--from-dir", str(dumps), "--bootstrap", env["DATAPLAT_KAFKA_BOOTSTRAP"]],
        home,
    )


def ingest_phase(home: Path, idle: float) -> SampledPhase:
    """`dataplat ingest --from-kafka` until the topics are drained (then `idle` s idle)."""
    return run_sampled(
        "ingest (Kafka → Iceberg)",
        ["ingest", "--from-kafka", "default", "--stop-when-idle", str(idle)],
        home,
    )


def dataset_arguments(description: str | None) -> argparse.ArgumentParser:
    """The arguments of ``publish_and_ingest`` (the generated data set, the loader's idle
    wait), shared by the benches that publish it."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events-per-day", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--malls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/kafka"))
    parser.add_argument(
        "--idle", type=float, default=10, help="--stop-when-idle of the loader (seconds)"
    )
    return parser


def platform_catalog():  # -> pyiceberg.catalog.sql.SqlCatalog, imported when called
    """The platform's Iceberg catalog (PostgreSQL, local warehouse), as its owner."""
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        "lakehouse", uri=platform.catalog_uri(), warehouse=(platform.RUN / "warehouse").as_uri()
    )


def last_raw_commit() -> float:
    """When the newest snapshot of the raw tables was committed (seconds since the epoch,
    pyiceberg's snapshot timestamp); 0 if none has one."""
    catalog = platform_catalog()
    stamps = [
        snapshot.timestamp_ms
        for name in RAW_TABLES
        for snapshot in catalog.load_table(f"{RAW_NAMESPACE}.{name}").snapshots()
    ]
    return max(stamps, default=0) / 1000


@dataclass
class KafkaRun:
    dumps: Path
    publish: Phase
    ingest: Phase
    samples: list[Sample]  # the loader's RSS while it ran
    # From the loader's start to the commit of its last snapshot: what the peer's time
    # measures too, whatever the idle wait before the loader stops.
    to_last_commit: float


def publish_and_ingest(args: argparse.Namespace) -> KafkaRun:
    """Resets the platform, publishes the data set ``args`` name (``dataset_arguments``)
    and drains it with our loader into the emptied raw tables."""
    workdir = args.workdir.resolve()
    env = platform_env()
    with dataplat_environment(env):
        dumps = generate_dumps(workdir, args.events_per_day, args.days, args.malls, args.seed)
        require_platform()
        platform.reset()
        home = workdir / "home"  # dbt/loader state of these runs; the data is on the platform
        home.mkdir(parents=True, exist_ok=True)
        publish = publish_phase(dumps, home, env)
        ingest = ingest_phase(home, args.idle)
        to_last_commit = last_raw_commit() - ingest.started_at
    return KafkaRun(dumps, publish, ingest.phase, ingest.samples, to_last_commit)


def main() -> None:
    args = dataset_arguments(__doc__).parse_args()
    run = publish_and_ingest(args)
    ingest, samples = run.ingest, run.samples

    records = dump_records(run.dumps)
    busy = max(ingest.seconds - args.idle, 1e-9)
    draining = Phase(f"{ingest.name}, minus {args.idle:g} s idle", busy, ingest.peak_rss_mib)
    committed = Phase(
        f"{ingest.name}, start to last commit", run.to_last_commit, ingest.peak_rss_mib
    )
    print_phases(f"Kafka loader, {records:,} records", [run.publish, draining, committed], records)
    console.print(
        f"ingest: {ingest.seconds:,.1f} s in all; {busy:,.1f} s after subtracting the "
        f"{args.idle:g} s the loader waits idle before it stops (--stop-when-idle); "
        f"{run.to_last_commit:,.1f} s from its start to the commit of its last Iceberg "
        "snapshot (the time the peer bench, bench.kafka_connect_peer, measures). Both "
        "include start-up (imports, partition assignment). "
        f"Peak RSS {ingest.peak_rss_mib:,.0f} MiB; "
        f"DATAPLAT_BATCH_RECORDS={os.environ.get('DATAPLAT_BATCH_RECORDS', '500000 (default)')}."
    )

    table = Table(title="loader RSS while the backlog is consumed (sampled every second)")
    for column in ("point of the run (minus idle)", "at second", "RSS (MiB)"):
        table.add_column(column, justify="right")
    for fraction in (0.25, 0.5, 0.75, 1.0):
        sample = rss_at(samples, fraction * busy)
        table.add_row(
            f"{fraction:.0%}",
            f"{sample.second:,.1f}" if sample else "-",
            f"{sample.rss_mib:,.0f}" if sample else "-",
        )
    last = samples[-1] if samples else None
    if last:
        table.add_row("exit (after idle)", f"{last.second:,.1f}", f"{last.rss_mib:,.0f}")
    table.add_row("peak", "", f"{ingest.peak_rss_mib:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
