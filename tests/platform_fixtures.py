"""Platform mode fixtures: the real servers of `make platform-up` (PostgreSQL catalog, Kafka,
Trino), the small data set published into Kafka in parts while the loader is killed and the
broker restarted, then transformed on Trino and served through it.

The servers are started when not running; their data (catalog, warehouse, topics) is reset
once per session, so these tests own the local platform while they run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.settings import ApiSettings
from infra import platform
from lakehouse.catalog import open_catalog
from lakehouse.settings import LakehouseSettings as Settings
from lakehouse.tables import RAW_TABLES, REJECTED_TABLE
from tests.conftest import DATAPLAT, run_cli, serve_api
from tests.processes import check_ended, tail

PARTS = 6  # the data set is published in this many consecutive slices of every topic
KILL_PHASE_PARTS = 4  # published while the loader is killed; the rest around a broker restart


def platform_env(home: Path) -> dict[str, str]:
    settings = dict(line.split("=", 1) for line in platform.environment().splitlines())
    return {**settings, "DATAPLAT_HOME": str(home)}


def split_parts(source: Path, target: Path, parts: int = PARTS) -> list[Path]:
    """Consecutive slices of every dump: published in order they rebuild each partition's
    offsets exactly as dumped (the generator numbers offsets in file order)."""
    directories = [target / f"part-{i}" for i in range(parts)]
    for directory in directories:
        directory.mkdir(parents=True)
    for path in source.glob("*.jsonl"):
        lines = path.read_bytes().splitlines(keepends=True)
        size = -(-len(lines) // parts)
        for i, directory in enumerate(directories):
            (directory / path.name).write_bytes(b"".join(lines[i * size : (i + 1) * size]))
    return directories


class Loader:
    """`dataplat ingest --from-kafka` as a process whose JSON log is read as it runs."""

    def __init__(self, env: dict[str, str], stop_when_idle: float | None):
        idle = ["--stop-when-idle", str(stop_when_idle)] if stop_when_idle is not None else []
        self.process = subprocess.Popen(
            [*DATAPLAT, "--log-json", "ingest", "--from-kafka", "default", *idle],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.commits = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self.commits += '"batch committed"' in line

    def wait_for_commits(self, count: int, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while self.commits < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL; the loader must still have been running until then."""
        check_ended(self.process, (None,), self.log)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join()

    def wait_until_landed(self, load: KafkaLoad, timeout: float = 300) -> bool:
        """True once the Iceberg tables' offsets reach every partition's end: each record is
        in its topic's table or in rejected_messages, whichever was committed last."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import AdminClient, OffsetSpec

        from lakehouse.offsets import read_watermarks
        from lakehouse.tables import ALL_TOPICS

        admin = AdminClient(platform.kafka_settings().kafka_client_config)
        topics = admin.list_topics(timeout=10).topics
        partitions = [TopicPartition(t, p) for t in ALL_TOPICS for p in topics[t].partitions]
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions})
        high = {(tp.topic, tp.partition): f.result().offset for tp, f in ends.items()}
        catalog = open_catalog(load.settings)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            landed: dict[tuple[str, int], int] = {}
            for name in RAW_TABLES:
                for tp, offset in read_watermarks(catalog.load_table(f"raw.{name}")).items():
                    landed[tp] = max(landed.get(tp, 0), offset)
            if all(landed.get(tp, 0) >= end for tp, end in high.items()):
                return True
            time.sleep(1)
        return False

    def stop(self, timeout: float) -> int:
        """SIGTERM: the loader commits what it holds and exits."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._reader.join()
            pytest.fail(f"the loader did not end within {timeout:.0f} s\n{tail(self.log)}")
        self._reader.join()
        return returncode

    def wait_ok(self, timeout: float) -> None:
        """Waits for the loader to end, which it must do with exit status 0."""
        self.wait(timeout)
        check_ended(self.process, (0,), self.log)


@dataclass
class KafkaLoad:
    home: Path
    env: dict[str, str]
    parts: list[Path]

    @property
    def settings(self) -> ApiSettings:
        """The platform's catalog and Trino, as the API reads them."""
        return ApiSettings(
            home=self.home,
            catalog_uri=self.env["DATAPLAT_CATALOG_URI"],
            warehouse=self.env["DATAPLAT_WAREHOUSE"],
            engine="trino",
            trino_url=self.env["DATAPLAT_TRINO_URL"],
            trino_password=self.env["DATAPLAT_TRINO_API_PASSWORD"],
            trino_ca_file=self.env["DATAPLAT_TRINO_CA_FILE"],
        )

    kills: int = 0
    killed_mid_data: int = 0
    landed_after_kills: dict[str, list[tuple]] = field(default_factory=dict)
    broker_restart_log: list[str] = field(default_factory=list)
    broker_restart_exit: int | None = None


def _publish(env: dict[str, str], parts: list[Path], pause: float) -> None:
    for part in parts:
        run_cli("publish", "--from-dir", str(part), env=env)
        time.sleep(pause)


@pytest.fixture(scope="session")
def platform_servers() -> None:
    platform.up()
    platform.reset()


@pytest.fixture(scope="session")
def kafka_load_with_kills(
    platform_servers, small_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> KafkaLoad:
    """Parts 0-3 published (2 s apart) while the loader is SIGKILLed at random points and
    restarted; then one run to the end. A transform follows, so the next parts are late
    data for days already built."""
    root = tmp_path_factory.mktemp("platform")
    env = platform_env(root / "home")
    # Small batches and frequent commits: kills land before, between and inside commits.
    loader_env = {**env, "DATAPLAT_BATCH_RECORDS": "1000", "DATAPLAT_COMMIT_INTERVAL_SECONDS": "1"}
    load = KafkaLoad(root / "home", env, split_parts(small_dataset, root / "parts"))
    publisher = threading.Thread(
        target=_publish, args=(env, load.parts[:KILL_PHASE_PARTS], 2.0), daemon=True
    )
    publisher.start()
    rng = random.Random(20261124)
    for _ in range(12):
        if not publisher.is_alive() and load.kills >= 4:
            break
        # Idle long enough to outlive the pauses between parts: it is killed, not stopped.
        loader = Loader(loader_env, stop_when_idle=60)
        loader.wait_for_commits(rng.randint(1, 3), timeout=15)
        time.sleep(rng.uniform(0.0, 0.4))
        publishing = publisher.is_alive()
        loader.kill()
        load.kills += 1
        load.killed_mid_data += publishing
    publisher.join()
    Loader(loader_env, stop_when_idle=2).wait_ok(timeout=300)
    load.landed_after_kills = raw_table_rows(load.settings)
    run_cli("transform", env=env)
    return load


@pytest.fixture(scope="session")
def kafka_load_complete(kafka_load_with_kills: KafkaLoad) -> KafkaLoad:
    """Parts 4-5 published around a broker restart while one loader keeps running."""
    load = kafka_load_with_kills
    # No --stop-when-idle: the broker's downtime and the publisher's start-up must not end it.
    # Commits every 2 s, not every 30 s: the waits for them below are the phase's length.
    loader = Loader({**load.env, "DATAPLAT_COMMIT_INTERVAL_SECONDS": "2"}, stop_when_idle=None)
    run_cli("publish", "--from-dir", str(load.parts[KILL_PHASE_PARTS]), env=load.env)
    assert loader.wait_for_commits(1), tail(loader.log)
    platform.down(("kafka",))
    time.sleep(5)
    platform.up(("kafka",))
    for part in load.parts[KILL_PHASE_PARTS + 1 :]:
        run_cli("publish", "--from-dir", str(part), env=load.env)
    assert loader.wait_until_landed(load), tail(loader.log)
    load.broker_restart_exit = loader.stop(timeout=120)
    load.broker_restart_log = loader.lines
    check_ended(loader.process, (0,), loader.log)
    return load


@pytest.fixture(scope="session")
def platform_home(kafka_load_complete: KafkaLoad) -> KafkaLoad:
    """The whole data set landed from Kafka and transformed incrementally on Trino, with
    dbt's unit tests (as CI runs them: a failing one fails the transform)."""
    run_cli("transform", "--unit-tests", env=kafka_load_complete.env)
    return kafka_load_complete


@pytest.fixture(scope="session")
def platform_api(platform_home: KafkaLoad):
    """`dataplat serve` on the Trino engine, over real HTTP, with a key reading all."""
    with serve_api(platform_home.home, platform_home.env) as client:
        yield client


def raw_table_rows(settings: Settings) -> dict[str, list[tuple]]:
    """Every raw table's rows as (topic, partition, offset, content...) tuples, sorted: what
    identifies a landed record and what it holds, whatever the load timing."""
    catalog = open_catalog(settings)
    rows = {}
    for name in RAW_TABLES:
        table = catalog.load_table(f"raw.{name}").scan().to_arrow()
        if name == REJECTED_TABLE:
            coordinates = ["topic", "partition", "offset"]
        else:
            coordinates = ["_kafka_topic", "_kafka_partition", "_kafka_offset"]
        # Coordinates first: unique, so sorting never compares the (nullable) content.
        columns = coordinates + [
            c for c in table.column_names if c not in coordinates and c != "_ingested_at"
        ]
        rows[name] = sorted(zip(*(table[c].to_pylist() for c in columns), strict=True))
    return rows
