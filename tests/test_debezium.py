"""Change data capture from a real shop database (MariaDB) through Debezium on Kafka Connect.

One generated history (without the producer faults of the CDC topics: a real database holds
no "x" as an amount) reaches the platform two ways:

- as generated dumps: `dataplat ingest --from-dir`, then `dataplat transform` (DuckDB);
- through the real path: `dataplat simulate-shop` writes the history into the shop database
  (`make platform-up`'s MariaDB), Debezium's MySQL connector turns the binlog into the shop
  topics on the platform's Kafka, the weblog is published beside them, `dataplat ingest
  --from-kafka` lands everything, `dataplat transform` builds the marts.

On the way, as a production day brings them: the database already holds the initial load
when the connector first starts (a snapshot, op "r"); Kafka Connect is stopped cleanly and
restarted, then killed (SIGKILL) after a part of the changes, with its binlog position not
flushed, and restarted while changes go on: it sends the changes since its last flushed
position again; and a column is added to a table mid-stream.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pymysql
import pytest

from infra import debezium, platform, shop_database
from lakehouse.catalog import open_catalog
from lakehouse.settings import LakehouseSettings
from lakehouse.tables import CDC_TABLES, CDC_TOPICS, REJECTED_TABLE
from sampledata.shop_simulator import ShopDatabaseSettings, apply_history
from tests.conftest import run_cli
from tests.marts import published_marts
from tests.platform_fixtures import platform_env

pytestmark = [pytest.mark.slow, pytest.mark.platform]

# Every mart built from shop data (topics.md's shop tables; the weblog is the same both ways).
SHOP_MARTS = (
    "dim_malls", "mall_orders_daily", "mall_orders_monthly", "platform_orders_daily",
    "platform_orders_monthly", "mall_funnel_daily", "platform_funnel_daily",
    "segment_abandoned_cart", "segment_recent_high_value", "segment_unused_coupons",
    "crm_member_value_daily", "platform_app_installs_daily", "mall_ranking_daily",
)  # fmt: skip
NEW_COLUMN, NEW_VALUE = "gift_message", "for mum, with love"
# Long enough that the worker flushes no binlog position between its restart and its kill.
UNFLUSHED_MS = "600000"


@dataclass
class CdcRun:
    dumps_home: Path
    cdc_home: Path
    snapshot_rows: int  # rows in the database when the connector first started
    records: list[tuple[str, bytes | None, bytes | None]]  # every shop record in Kafka
    changed_order: int  # the order updated after the column was added


def shop_records() -> list[tuple[str, bytes | None, bytes | None]]:
    """Every record of the shop topics, from the start: (topic, key, value), partition by
    partition. One consumer reads every partition at once, each up to the end it had when
    the read began."""
    from confluent_kafka import Consumer, TopicPartition

    admin = platform.kafka_settings("admin").kafka_client_config
    consumer = Consumer({**admin, "group.id": "test-debezium", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=30)
        starts, ends = {}, {}
        for topic in CDC_TOPICS:
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 30)
                if high > low:
                    starts[topic, partition], ends[topic, partition] = low, high
        read: dict[tuple[str, int], list] = {key: [] for key in ends}
        consumer.assign([TopicPartition(t, p, low) for (t, p), low in starts.items()])
        unread = set(ends)
        while unread:
            message = consumer.poll(10)
            assert message is not None, f"{sorted(unread)} ended before {ends}"
            assert message.error() is None, message.error()
            key = (message.topic(), message.partition())
            if key in unread and message.offset() < ends[key]:
                read[key].append((message.topic(), message.key(), message.value()))
                if message.offset() == ends[key] - 1:
                    unread.discard(key)
    finally:
        consumer.close()
    return [record for key in ends for record in read[key]]


def change_positions(records) -> set[tuple]:
    """The distinct changes among records: a redelivered change has the same position (and
    a snapshot's rows share theirs, so the row's id is part of it)."""
    positions = set()
    for topic, key, value in records:
        if value is None:
            continue  # a tombstone
        envelope = orjson.loads(value)
        source = envelope["source"]
        positions.add((topic, key, envelope["op"], source["file"], source["pos"], source["row"]))
    return positions


def wait_for_changes(count: int, timeout: float = 180) -> list:
    """Until Kafka holds `count` distinct changes; fails with the worker's log if not."""
    deadline = time.monotonic() + timeout
    while True:
        records = shop_records()
        seen = len(change_positions(records))
        if seen >= count:
            return records
        if time.monotonic() > deadline:
            log = platform.RUN / "connect.log"
            pytest.fail(f"{seen} of {count} changes reached Kafka in {timeout:.0f} s; end of "
                        f"{log}:\n{log.read_text(errors='replace')[-3000:]}")  # fmt: skip
        time.sleep(1)


def shop_sql(*statements: str) -> list[tuple]:
    """Statements as the shop's application, committed; the last one's rows."""
    connection = pymysql.connect(**shop_database.connection_settings("shop_app"))
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            rows = list(cursor.fetchall())
        connection.commit()
        return rows
    finally:
        connection.close()


def database_rows() -> int:
    return sum(shop_sql(f"select count(*) from {table}")[0][0] for table in CDC_TABLES)


@pytest.fixture(scope="module")
def cdc_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cdc") / "topics"
    run_cli(
        "generate", "--out", str(out), "--days", "2", "--events-per-day", "6000",
        "--malls", "8", "--seed", "16", "--start", "2026-01-31", "--no-cdc-faults",
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def cdc_run(platform_servers, cdc_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cdc-homes")
    dumps_env = {"DATAPLAT_HOME": str(root / "dumps")}
    run_cli("ingest", "--from-dir", str(cdc_dataset), env=dumps_env)
    run_cli("transform", env=dumps_env)

    # Kafka and the shop database of the platform, an embedded catalog and DuckDB.
    server_env = {k: v for k, v in platform_env(root).items()
                  if k.startswith(("DATAPLAT_KAFKA_", "DATAPLAT_SHOP_DB_"))}  # fmt: skip
    cdc_env = {**server_env, "DATAPLAT_HOME": str(root / "cdc")}
    shop = ShopDatabaseSettings(
        shop_db_port=shop_database.PORT, shop_db_password=server_env["DATAPLAT_SHOP_DB_PASSWORD"]
    )
    flush = os.environ.get("DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS")
    try:
        # The shop's history up to the traffic is in the database before Debezium first runs.
        debezium.start_over(restart=False)
        run_cli("simulate-shop", "--from-dir", str(cdc_dataset), "--phase", "snapshot",
                env=cdc_env)  # fmt: skip
        snapshot_rows = database_rows()
        debezium.up_connect()
        wait_for_changes(snapshot_rows)
        manifest = orjson.loads((cdc_dataset / "_manifest.json").read_bytes())
        records_dumped = sum(n for t, n in manifest["records"].items() if t in CDC_TOPICS)
        live = records_dumped - manifest["cdc_tombstones"] - snapshot_rows
        # Tenths of the live changes: 0-1, 1-5, 5-8, 8-10.
        bounds = [0, live // 10, live // 2, live * 8 // 10, None]
        parts = [(start, None if end is None else end - start)
                 for start, end in itertools.pairwise(bounds)]  # fmt: skip
        expected = snapshot_rows

        def apply(part: tuple[int, int | None]) -> None:
            nonlocal expected
            stats = apply_history(shop, cdc_dataset, "changes", skip=part[0], limit=part[1])
            assert sum(stats.applied.values()), f"no change in part {part}"
            expected += sum(stats.applied.values())

        # A first tenth streamed, then a clean stop: the worker flushes a streaming position.
        apply(parts[0])
        wait_for_changes(expected)
        debezium.down_connect()
        # From the restart on, no position is flushed before the kill.
        os.environ["DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS"] = UNFLUSHED_MS
        debezium.up_connect()
        apply(parts[1])
        wait_for_changes(expected)
        debezium.kill_connect()
        apply(parts[2])  # while the worker is down
        os.environ["DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS"] = flush or "5000"
        debezium.up_connect()
        wait_for_changes(expected)
        # A column added mid-stream, a change that fills it, and the rest of the history.
        changed_order = shop_sql("select min(id) from orders")[0][0]
        shop_sql(
            f"alter table orders add column {NEW_COLUMN} varchar(100) null",
            f"update orders set {NEW_COLUMN} = '{NEW_VALUE}' where id = {changed_order}",
        )
        expected += 1
        apply(parts[3])
        records = wait_for_changes(expected)

        # The weblog published beside the shop topics, then everything landed from Kafka.
        weblog = root / "weblog"
        weblog.mkdir()
        shutil.copy(cdc_dataset / "weblog.events.jsonl", weblog)
        run_cli("publish", "--from-dir", str(weblog), env=cdc_env)
        run_cli("ingest", "--from-kafka", "default", "--stop-when-idle", "5", env=cdc_env)
        run_cli("transform", env=cdc_env)
        yield CdcRun(root / "dumps", root / "cdc", snapshot_rows, records, changed_order)
    finally:
        if flush is None:
            os.environ.pop("DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS", None)
        else:
            os.environ["DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS"] = flush
        # The next tests find the platform as platform_servers leaves it: empty.
        platform.reset()


def raw_rows(home: Path, table: str) -> list[dict]:
    catalog = open_catalog(LakehouseSettings(home=home))
    return catalog.load_table(f"raw.{table}").scan().to_arrow().to_pylist()


def test_the_same_history_through_debezium_builds_the_same_marts(cdc_run: CdcRun):
    """Every mart, the shop marts first among them, is identical whether the shop history
    came as generated dumps or from the database through Debezium (with a snapshot, a new
    column and a killed worker's redelivery on the way)."""
    dumps, cdc = published_marts(cdc_run.dumps_home), published_marts(cdc_run.cdc_home)
    assert set(SHOP_MARTS) <= set(dumps) and set(dumps) == set(cdc)
    for mart in SHOP_MARTS:
        assert dumps[mart][1], f"{mart} is empty: the comparison would prove nothing"
    for mart in sorted(dumps):
        assert cdc[mart] == dumps[mart], f"{mart} differs between dumps and Debezium"


def test_an_initial_snapshot_then_live_changes(cdc_run: CdcRun):
    """The rows the database held when the connector first started arrive as snapshot reads
    (op r, one per row, before every live change in the binlog); then inserts, updates and
    deletes, each delete followed by its tombstone."""
    envelopes = [(topic, key, orjson.loads(value)) for topic, key, value in cdc_run.records
                 if value is not None]  # fmt: skip
    snapshot = {(t, k) for t, k, e in envelopes if e["op"] == "r"}
    assert len(snapshot) == cdc_run.snapshot_rows
    assert {e["source"]["snapshot"] for t, k, e in envelopes if e["op"] == "r"} <= {
        "first", "true", "last", "last_in_data_collection", "first_in_data_collection"
    }  # fmt: skip
    live = [e for t, k, e in envelopes if e["op"] != "r"]
    assert {e["op"] for e in live} == {"c", "u", "d"}
    last_read = max((e["source"]["file"], e["source"]["pos"]) for t, k, e in envelopes
                    if e["op"] == "r")  # fmt: skip
    assert all((e["source"]["file"], e["source"]["pos"]) > last_read for e in live)
    by_partition: dict[tuple, list] = {}
    for topic, key, value in cdc_run.records:
        by_partition.setdefault((topic, key), []).append(value)
    for (topic, key), values in by_partition.items():
        for i, value in enumerate(values):
            if value is not None and orjson.loads(value)["op"] == "d":
                assert i + 1 < len(values) and values[i + 1] is None, f"{topic} {key}: no tombstone"
    landed = raw_rows(cdc_run.cdc_home, "shop_members")
    assert {"r", "c"} <= {row["op"] for row in landed}


def test_debezium_writes_what_the_contract_says(cdc_run: CdcRun):
    """Topic names shop.<table>, key {"id": ...}, the envelope without schemas, datetimes as
    epoch milliseconds (integers), amounts as integers; and the loader takes every record:
    no shop record rejected."""
    assert {topic for topic, _, _ in cdc_run.records} == set(CDC_TOPICS)
    for topic, key, value in cdc_run.records:
        assert list(orjson.loads(key)) == ["id"]
        if value is None:
            continue
        envelope = orjson.loads(value)
        assert {"before", "after", "op", "ts_ms", "source"} <= set(envelope)
        assert "schema" not in envelope
        assert envelope["source"]["table"] == topic.removeprefix("shop.")
        image = envelope["after"] or envelope["before"]
        assert image["id"] == orjson.loads(key)["id"]
        for column, value_ in image.items():
            if column.endswith("_at") or column in ("price", "total_amount", "quantity"):
                assert value_ is None or isinstance(value_, int), (topic, column, value_)
    rejected = raw_rows(cdc_run.cdc_home, REJECTED_TABLE)
    assert not [r for r in rejected if r["topic"] in CDC_TOPICS], rejected[:3]


def test_a_column_added_mid_stream_is_kept_in_raw(cdc_run: CdcRun):
    """ALTER TABLE ... ADD COLUMN between two changes: the changes after it carry the new
    field, and raw keeps it (the row image and the whole message); nothing is lost: every
    shop record in Kafka landed."""
    orders = raw_rows(cdc_run.cdc_home, "shop_orders")
    filled = [r for r in orders if r["after"] and NEW_VALUE in r["after"]]
    assert filled and all(r["id"] == cdc_run.changed_order for r in filled)
    assert orjson.loads(filled[0]["after"])[NEW_COLUMN] == NEW_VALUE
    assert NEW_COLUMN in orjson.loads(filled[0]["payload"])["after"]
    landed = sum(len(raw_rows(cdc_run.cdc_home, f"shop_{t}")) for t in CDC_TABLES)
    assert landed == len([r for r in cdc_run.records if r[2] is not None])


def test_a_killed_worker_redelivers_and_the_marts_keep_each_change_once(cdc_run: CdcRun):
    """Kafka Connect SIGKILLed with its binlog position unflushed, then restarted: it sends
    the changes since its last flushed position again (same source position), raw keeps
    both copies, and the marts (compared in the first test) count each change once."""
    values = [v for _, _, v in cdc_run.records if v is not None]
    positions = change_positions(cdc_run.records)
    assert len(values) > len(positions), "the restart redelivered nothing"
    orders = raw_rows(cdc_run.cdc_home, "shop_orders")
    copies = Counter((r["source_file"], r["source_pos"], r["source_row"], r["id"]) for r in orders)
    assert max(copies.values()) == 2
    dumps, cdc = published_marts(cdc_run.dumps_home), published_marts(cdc_run.cdc_home)
    for mart in ("mall_orders_daily", "platform_orders_daily", "segment_recent_high_value"):
        assert cdc[mart] == dumps[mart]


def test_the_cdc_servers_are_authenticated_and_on_loopback(platform_servers):
    """MariaDB refuses root over TCP and unknown passwords; Connect's REST API wants its
    admin's password; both listen on 127.0.0.1 only."""
    for user, password in (("root", ""), ("shop_app", "wrong")):
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            pymysql.connect(host="127.0.0.1", port=shop_database.PORT, user=user,
                            password=password)  # fmt: skip
    assert debezium.rest("/connectors", password="wrong")[0] == 401
    assert debezium.rest("/connectors") == (200, ["shop-cdc"])
    # /proc/net/tcp and tcp6: local address (hex ip:port) and state (0A: listening) of each
    # socket; Java listens on IPv6 sockets, 127.0.0.1 as ::ffff:127.0.0.1.
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    sockets = [line.split() for name in ("tcp", "tcp6")
               for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]]  # fmt: skip
    listening = [fields[1].split(":") for fields in sockets if fields[3] == "0A"]
    for port in (shop_database.PORT, debezium.PORT):
        hosts = {host for host, hex_port in listening if int(hex_port, 16) == port}
        assert hosts and hosts <= loopback, f"port {port} listens on {hosts}"
