"""Our Kafka loader beside Apache Iceberg's Kafka Connect sink, in one run, on the same broker,
topics and PostgreSQL JDBC catalog (issue #15): publish a generated day once, drain it with
`dataplat ingest --from-kafka` into `raw`, then with a standalone Kafka Connect worker running
the Iceberg sink into `peer_raw` (its own consumer group), and print records/s of both.

    make platform-up    (or only what it needs: python -m infra.platform up postgres kafka)
    .venv/bin/python -m bench.kafka_connect_peer [--events-per-day 2000000] [--tasks 2]

RESETS THE PLATFORM (Iceberg catalog, warehouse, every topic) before publishing, like
bench.kafka_loader. Kafka Connect 3.9.1 and the Iceberg sink come from Maven Central
(infra/kafka_connect.py). The worker runs as its own Kafka principal, `connect`, which this
bench makes (SCRAM, a fresh password each run, kept in a 0600 file of the run directory) and
grants: read the contract topics, its consumer groups, the sink's control topic and
transactions, write its dead-letter topic. The sink auto-creates one table per topic and
routes on the topic name that Connect's InsertField adds to each record (with the partition,
offset and timestamp, like our _kafka_* columns). How it reads the values (--values):

    string (default)  StringConverter, HoistField into one `payload` column: every record is
                      taken (non-UTF-8 bytes become U+FFFD), none is parsed or typed
    json              JsonConverter (schemas disabled), the schema inferred from the first
                      records and evolved as new fields appear. Records that are not JSON go
                      to the dead-letter topic; but the topics' records of the wrong type
                      (a member's mall_id "yesterday" or true) fail the sink's task, which
                      errors.tolerance does not cover (it fails in the sink's put), so the
                      peer cannot load these topics this way: the bench prints the failure.

Ours does more per record than the peer in string mode (it parses, types and validates every
record and rejects the bad ones into raw.rejected_messages), so that ratio favours the peer.

The peer's time runs from the JVM's start to the Iceberg commit that makes the last record
visible (polled through pyiceberg every --poll seconds); commits happen every
--commit-interval seconds (iceberg.control.commit.interval-ms), so up to that much is commit
latency. Ours is measured the same way: from the ingest process's start to the commit of its
last Iceberg snapshot (that snapshot's timestamp).

Settings: DATAPLAT_PEER_NAMESPACE (default peer_raw), DATAPLAT_PEER_CONNECT_PORT (the worker's
REST listener, default the Kafka port + 10), DATAPLAT_PEER_CONNECT_HEAP (default 2g).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from bench.common import Phase, console, dump_records
from bench.kafka_loader import dataset_arguments, platform_catalog, publish_and_ingest, rss_mib
from infra import platform
from infra.credentials import write_private
from infra.kafka_connect import CONNECT_VERSION, ICEBERG_VERSION, fetch_connect
from infra.platform import PlatformError
from lakehouse.tables import ALL_TOPICS, RAW_NAMESPACE, REJECTED_TABLE, table_for_topic

NAMESPACE = os.environ.get("DATAPLAT_PEER_NAMESPACE", "peer_raw")
CONNECT_PORT = int(os.environ.get("DATAPLAT_PEER_CONNECT_PORT", platform.KAFKA_PORT + 10))
HEAP = os.environ.get("DATAPLAT_PEER_CONNECT_HEAP", "2g")
CONNECTOR = "iceberg-peer"
CONNECT_USER = "connect"
CONNECT_GROUP = f"connect-{CONNECTOR}"  # the sink tasks' consumer group (Connect's default)
CONTROL_GROUP_PREFIX = "cg-control"  # the sink's control-topic consumers (its default)
CONTROL_TOPIC = "peer-iceberg-control"
DLQ_TOPIC = "peer-iceberg-dlq"
TOPIC_FIELD = "_kafka_topic"
WORK = platform.RUN / "peer-connect"


# How the sink reads the values (--values; the module's docstring says why string): the
# converter, and for strings the transform that makes each one a record of one field.
VALUES: dict[str, dict[str, str]] = {
    "string": {
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms.payload.type": "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.payload.field": "payload",
    },
    "json": {
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    },
}


class PeerError(RuntimeError):
    pass


def connect_acls() -> list:
    """What the worker's principal needs, and nothing else (the admin stays the only one who
    creates topics: this bench creates the control and dead-letter topics as the admin)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    def allow(kind, name, operation, pattern=ResourcePatternType.LITERAL):
        return AclBinding(kind, name, pattern, f"User:{CONNECT_USER}", "*", operation,
                          AclPermissionType.ALLOW)  # fmt: skip

    ops = (AclOperation.READ, AclOperation.DESCRIBE)
    bindings = [allow(ResourceType.TOPIC, t, op) for t in ALL_TOPICS for op in ops]
    bindings += [allow(ResourceType.TOPIC, CONTROL_TOPIC, op)
                 for op in (*ops, AclOperation.WRITE)]  # fmt: skip
    bindings += [allow(ResourceType.TOPIC, DLQ_TOPIC, op)
                 for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]  # fmt: skip
    for group in (CONNECT_GROUP, CONTROL_GROUP_PREFIX):
        bindings += [allow(ResourceType.GROUP, group, op, ResourcePatternType.PREFIXED)
                     for op in ops]  # fmt: skip
    # The sink's workers and coordinator commit through transactional producers, with ids
    # made from the connector name and random parts (idempotence needs no cluster grant:
    # WRITE on a topic implies it, KIP-679).
    bindings += [allow(ResourceType.TRANSACTIONAL_ID, "*", op)
                 for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]  # fmt: skip
    return bindings


def prepare_kafka(password: str) -> None:
    """The `connect` principal (SCRAM), its ACLs, and the sink's control and dead-letter
    topics (1 partition each), made as the admin."""
    from confluent_kafka.admin import (
        AdminClient,
        NewTopic,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(platform.kafka_settings("admin").kafka_client_config)
    upsert = UserScramCredentialUpsertion(
        CONNECT_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result()
    for future in admin.create_acls(connect_acls(), request_timeout=30).values():
        future.result()
    existing = admin.list_topics(timeout=30).topics
    new = [NewTopic(t, num_partitions=1, replication_factor=1)
           for t in (CONTROL_TOPIC, DLQ_TOPIC) if t not in existing]  # fmt: skip
    if new:
        for future in admin.create_topics(new, operation_timeout=30).values():
            future.result()


def _sasl(password: str) -> dict[str, str]:
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{CONNECT_USER}" password="{password}";')  # fmt: skip
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": platform.KAFKA_SCRAM,
            "sasl.jaas.config": jaas}  # fmt: skip


def _properties(values: dict[str, object]) -> str:
    # Backslashes are escapes in .properties files (the route regexes have some).
    return "".join(f"{k}={str(v).replace(chr(92), chr(92) * 2)}\n" for k, v in values.items())


def peer_tables() -> dict[str, str]:
    """topic → the peer's table for it."""
    return {topic: f"{NAMESPACE}.{table_for_topic(topic)}" for topic in ALL_TOPICS}


def write_configs(
    password: str, plugins: Path, tasks: int, commit_seconds: float, values: str
) -> list[Path]:
    """The worker's, the connector's and log4j's properties (0600: they hold passwords)."""
    WORK.mkdir(parents=True, exist_ok=True)
    sasl = _sasl(password)
    worker = {
        "bootstrap.servers": f"127.0.0.1:{platform.KAFKA_PORT}", **sasl,
        **{f"{client}.{k}": v for client in ("consumer", "producer", "admin")
           for k, v in sasl.items()},
        # Keys are not written by the sink: bytes, never a conversion error.
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": WORK / "connect.offsets",
        "offset.flush.interval.ms": 10_000,
        "plugin.path": plugins,
        # The sink's jars declare their plugins (ServiceLoader manifests): no class scanning,
        # which took ~30 s of the start-up here.
        "plugin.discovery": "service_load",
        "listeners": f"http://127.0.0.1:{CONNECT_PORT}",
    }  # fmt: skip
    tables = peer_tables()
    connector = {
        "name": CONNECTOR,
        "connector.class": "org.apache.iceberg.connect.IcebergSinkConnector",
        "tasks.max": tasks,
        "topics": ",".join(ALL_TOPICS),
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": DLQ_TOPIC,
        "errors.deadletterqueue.topic.replication.factor": 1,
        "errors.deadletterqueue.context.headers.enable": "true",
        **VALUES[values],
        # The topic (the route field), partition, offset and timestamp in every record, as
        # the _kafka_* columns of ours.
        "transforms": "payload,kafka" if values == "string" else "kafka",
        "transforms.kafka.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.kafka.topic.field": TOPIC_FIELD,
        "transforms.kafka.partition.field": "_kafka_partition",
        "transforms.kafka.offset.field": "_kafka_offset",
        "transforms.kafka.timestamp.field": "_kafka_timestamp",
        "iceberg.tables": ",".join(tables.values()),
        "iceberg.tables.route-field": TOPIC_FIELD,
        **{f"iceberg.table.{table}.route-regex": topic.replace(".", "\\.")
           for topic, table in tables.items()},
        "iceberg.tables.auto-create-enabled": "true",
        "iceberg.tables.evolve-schema-enabled": "true",
        "iceberg.control.topic": CONTROL_TOPIC,
        "iceberg.control.group-id-prefix": CONTROL_GROUP_PREFIX,
        "iceberg.control.commit.interval-ms": int(commit_seconds * 1000),
        "iceberg.catalog": "lakehouse",  # the catalog name of ours (lakehouse/settings.py)
        "iceberg.catalog.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        "iceberg.catalog.uri":
            f"jdbc:postgresql://127.0.0.1:{platform.PG_PORT}/iceberg_catalog",
        "iceberg.catalog.jdbc.user": platform.CATALOG_OWNER,
        "iceberg.catalog.jdbc.password": platform.CREDENTIALS.password("PG",
                                                                       platform.CATALOG_OWNER),
        "iceberg.catalog.warehouse": (platform.RUN / "warehouse").as_uri(),
        **{f"iceberg.kafka.{k}": v for k, v in sasl.items()},
    }  # fmt: skip
    log4j = {
        "log4j.rootLogger": "INFO, stdout",
        "log4j.appender.stdout": "org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout": "org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern": "[%d] %p %m (%c)%n",
        "log4j.logger.org.apache.kafka.clients": "WARN",
        "log4j.logger.org.apache.kafka.common": "WARN",
        "log4j.logger.org.reflections": "ERROR",
        "log4j.logger.org.apache.hadoop": "WARN",
    }
    paths = [WORK / "worker.properties", WORK / "iceberg-peer.properties",
             WORK / "log4j.properties"]  # fmt: skip
    for path, values in zip(paths, (worker, connector, log4j), strict=True):
        write_private(path, _properties(values))
    (WORK / "connect.offsets").unlink(missing_ok=True)  # a fresh start: the platform was reset
    return paths


def create_namespace() -> None:
    catalog = platform_catalog()
    catalog.create_namespace_if_not_exists(NAMESPACE)


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    started: float

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        """SIGTERM to its process group (Connect stops its tasks), SIGKILL after 30 s."""
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass


def start_worker(libs: Path, configs: list[Path]) -> Worker:
    worker, connector, log4j = configs
    log = WORK / "connect.log"
    args = ["java", f"-Xmx{HEAP}", "-cp", f"{libs}/*",
            f"-Dlog4j.configuration={log4j.as_uri()}",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(worker), str(connector)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=WORK)  # fmt: skip
    (WORK / "connect.pid").write_text(str(process.pid))
    return Worker(process, log, time.perf_counter())


def connector_failures() -> str | None:
    """The connector's or a task's FAILED state with its trace, from the worker's REST API."""
    url = f"http://127.0.0.1:{CONNECT_PORT}/connectors/{CONNECTOR}/status"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = json.load(response)
    except OSError:
        return None  # not listening yet
    parts = [("connector", status.get("connector", {}))]
    parts += [(f"task {t.get('id')}", t) for t in status.get("tasks", [])]
    failed = [f"{name}: {s.get('trace', '')[:3000]}" for name, s in parts
              if s.get("state") == "FAILED"]  # fmt: skip
    return "\n".join(failed) or None


class TopicCounter:
    """Records per topic (high watermark minus low: the topics were created empty), as the
    admin, through one consumer that never joins a group."""

    def __init__(self) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer({**platform.kafka_settings("admin").kafka_client_config,
                                  "group.id": "dataplat-bench-peer-counts",
                                  "enable.auto.commit": False})  # fmt: skip

    def __call__(self, topics: list[str]) -> dict[str, int]:
        from confluent_kafka import TopicPartition

        metadata = self.consumer.list_topics(timeout=30).topics
        counts = {}
        for topic in topics:
            total = 0
            for partition in metadata[topic].partitions if topic in metadata else ():
                tp = TopicPartition(topic, partition)
                low, high = self.consumer.get_watermark_offsets(tp, timeout=30)
                total += high - low
            counts[topic] = total
        return counts

    def close(self) -> None:
        self.consumer.close()


def table_records(catalog, identifier: str) -> int:
    """Records in a table's current snapshot (its summary: no data file is read); 0 if the
    table does not exist yet."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        snapshot = catalog.load_table(identifier).current_snapshot()
    except NoSuchTableError:
        return 0
    return int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0


@dataclass
class PeerResult:
    seconds: float  # from the JVM's start to the commit of the last record
    landed: dict[str, int]  # topic → records in its peer table
    dead_letters: int
    peak_rss_mib: float
    complete: bool


def run_peer(libs: Path, configs: list[Path], total: int, poll: float, stall: float,
             timeout: float) -> PeerResult:  # fmt: skip
    """Starts the worker and waits until every record is in a peer table or in the
    dead-letter topic; fails with the log tail if the worker or a task fails. Gives up when
    nothing changed for `stall` seconds (records the sink skips without a dead letter)."""
    catalog = platform_catalog()
    tables = peer_tables()
    topic_counts = TopicCounter()
    worker = start_worker(libs, configs)
    console.print(f"Kafka Connect worker started (pid {worker.process.pid}, log {worker.log})")
    peak, last_change, previous = 0.0, time.perf_counter(), -1
    landed: dict[str, int] = {}
    dead = 0
    try:
        while True:
            time.sleep(poll)
            now = time.perf_counter()
            peak = max(peak, rss_mib(worker.process.pid) or 0)
            if not worker.alive():
                raise PeerError(f"the Kafka Connect worker exited with code "
                                f"{worker.process.returncode}; end of {worker.log}:\n"
                                f"{worker.tail()}")  # fmt: skip
            if failure := connector_failures():
                raise PeerError(f"the Iceberg sink failed:\n{failure}\n"
                                f"end of {worker.log}:\n{worker.tail()}")  # fmt: skip
            landed = {topic: table_records(catalog, table) for topic, table in tables.items()}
            dead = topic_counts([DLQ_TOPIC])[DLQ_TOPIC]
            done = sum(landed.values()) + dead
            if done != previous:
                previous, last_change = done, now
                console.print(f"  {now - worker.started:6.1f} s: {sum(landed.values()):,} "
                              f"committed, {dead:,} dead letters, of {total:,}")  # fmt: skip
            if done >= total:
                return PeerResult(last_change - worker.started, landed, dead, peak, True)
            if now - last_change > stall or now - worker.started > timeout:
                console.print(f"[red]the peer stopped short: {total - done:,} records neither "
                              f"committed nor dead letters after {stall:.0f} s without "
                              f"progress (or the {timeout:.0f} s timeout)[/]; end of "
                              f"{worker.log}:\n{worker.tail(2000)}")  # fmt: skip
                return PeerResult(last_change - worker.started, landed, dead, peak, False)
    finally:
        worker.stop()
        topic_counts.close()


def main() -> None:
    parser = dataset_arguments(__doc__)
    parser.add_argument("--tasks", type=int, default=2,
                        help="tasks.max of the sink (default 2: one per core here)")  # fmt: skip
    parser.add_argument("--commit-interval", type=float, default=10,
                        help="the sink's commit interval (seconds)")  # fmt: skip
    parser.add_argument("--values", choices=sorted(VALUES), default="string",
                        help="how the sink reads the values (see above)")  # fmt: skip
    parser.add_argument("--poll", type=float, default=1)
    parser.add_argument("--stall", type=float, default=300)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    if not shutil.which("java"):
        raise SystemExit("java not found on PATH: Kafka Connect 3.9 needs Java 11 or later "
                         "(Debian: apt-get install openjdk-17-jre-headless)")  # fmt: skip
    try:
        libs, plugins = fetch_connect()
    except PlatformError as exc:
        raise SystemExit(f"error: {exc}") from None
    run = publish_and_ingest(args)
    dumps, publish, ingest = run.dumps, run.publish, run.ingest

    records = dump_records(dumps)
    counter = TopicCounter()
    try:
        in_kafka = counter(list(ALL_TOPICS))
    finally:
        counter.close()
    total = sum(in_kafka.values())
    if total != records:
        raise SystemExit(f"the topics hold {total:,} records, the dumps {records:,}")
    ours_seconds = max(run.to_last_commit, 1e-9)
    ours = Phase("ours: dataplat ingest --from-kafka (start to last commit)",
                 ours_seconds, ingest.peak_rss_mib)  # fmt: skip

    password = secrets.token_urlsafe(24)
    prepare_kafka(password)
    create_namespace()
    configs = write_configs(password, plugins, args.tasks, args.commit_interval, args.values)
    console.print(f"peer: Kafka Connect {CONNECT_VERSION} standalone, Iceberg {ICEBERG_VERSION} "
                  f"sink, {args.tasks} tasks, {args.values} values, commit every "
                  f"{args.commit_interval:g} s, "
                  f"into {NAMESPACE}.*")  # fmt: skip
    try:
        peer = run_peer(libs, configs, total, args.poll, args.stall, args.timeout)
    except PeerError as exc:
        console.print(f"[red]peer failed:[/] {exc}")
        console.print(f"ours alone: {total:,} records in {ours_seconds:,.1f} s, "
                      f"{total / ours_seconds:,.0f} records/s")  # fmt: skip
        raise SystemExit(1) from None

    catalog = platform_catalog()
    counts = Table(title="records per topic")
    for column in ("topic", "in Kafka", f"ours ({RAW_NAMESPACE}.*)", f"peer ({NAMESPACE}.*)"):
        counts.add_column(column, justify="right")
    for topic in ALL_TOPICS:
        ours_landed = table_records(catalog, f"{RAW_NAMESPACE}.{table_for_topic(topic)}")
        counts.add_row(topic, f"{in_kafka[topic]:,}", f"{ours_landed:,}",
                       f"{peer.landed[topic]:,}")  # fmt: skip
    rejected = table_records(catalog, f"{RAW_NAMESPACE}.{REJECTED_TABLE}")
    counts.add_row("not taken", "", f"{rejected:,} (raw.rejected_messages)",
                   f"{peer.dead_letters:,} (dead letters)")  # fmt: skip
    console.print(counts)

    ratio = (total / ours_seconds) / (total / peer.seconds)
    result = Table(title=f"Kafka → Iceberg, {total:,} records, same broker and catalog")
    for column in ("loader", "seconds", "records/s", "peak RSS (MiB)"):
        result.add_column(column, justify="right")
    result.add_row(publish.name, f"{publish.seconds:,.1f}",
                   f"{total / publish.seconds:,.0f}", f"{publish.peak_rss_mib:,.0f}")  # fmt: skip
    result.add_row(ours.name, f"{ours.seconds:,.1f}", f"{total / ours.seconds:,.0f}",
                   f"{ours.peak_rss_mib:,.0f}")  # fmt: skip
    peer_name = (f"peer: Iceberg {ICEBERG_VERSION} Kafka Connect sink, {args.tasks} tasks "
                 f"(JVM start → last commit)")  # fmt: skip
    result.add_row(peer_name, f"{peer.seconds:,.1f}", f"{total / peer.seconds:,.0f}",
                   f"{peer.peak_rss_mib:,.0f}")  # fmt: skip
    console.print(result)
    console.print(
        f"ratio ours / peer: [bold]{ratio:.2f}x[/] records/s"
        + ("" if peer.complete else " (the peer did NOT land every record: see above)")
        + f". machine: {os.cpu_count()} cores, broker and PostgreSQL on the same cores."
    )
    if not peer.complete:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
