"""Platform mode on real servers: Kafka → loader → Iceberg (PostgreSQL catalog) → dbt on
Trino → API through Trino, compared with the embedded pipeline on the same data set.

The fixtures (tests/platform_fixtures.py) publish the data set in parts while the loader is
killed, then restart the broker under a running loader; the embedded side is the
``pipeline_home`` of conftest (file dumps → SQLite catalog → DuckDB).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pytest
from trino.dbapi import connect

from infra import platform
from lakehouse.catalog import open_catalog
from lakehouse.settings import LakehouseSettings as Settings
from lakehouse.tables import ALL_TOPICS, RAW_TABLES, REJECTED_TABLE
from tests.conftest import run_cli
from tests.marts import comparable, published_marts
from tests.platform_fixtures import KILL_PHASE_PARTS, KafkaLoad, raw_table_rows
from tests.processes import log_events, run
from transform.build import dbt_manifest_path
from transform.settings import TransformSettings

pytestmark = [pytest.mark.slow, pytest.mark.platform]


def test_sigkill_at_random_points_against_the_real_broker(
    kafka_load_with_kills: KafkaLoad, tmp_path: Path
):
    """Killed while the data was being published: every record of the parts published so far
    landed exactly once, exactly as the file loader lands the same records."""
    load = kafka_load_with_kills
    assert load.kills >= 3, "the loader finished before it could be killed"
    assert load.killed_mid_data >= 1, "no kill happened while records were being published"

    # The same parts through the file source into an embedded catalog: the reference.
    home = tmp_path / "files"
    for part in load.parts[:KILL_PHASE_PARTS]:
        run_cli("ingest", "--from-dir", str(part), env={"DATAPLAT_HOME": str(home)})
    expected = raw_table_rows(Settings(home=home))

    landed = load.landed_after_kills
    for name, rows in landed.items():
        coordinates = [row[:3] for row in rows]
        assert len(coordinates) == len(set(coordinates)), f"raw.{name}: a record landed twice"
        assert rows == expected[name], f"raw.{name} differs from the file-loaded records"
    assert sum(len(rows) for rows in landed.values()) > 0
    assert len(landed["rejected_messages"]) > 0, "the parts should hold broken messages"


def test_broker_restart_while_the_loader_runs(kafka_load_complete: KafkaLoad, pipeline_home):
    """The broker stops and comes back under a running loader: it waits, then goes on, and
    at the end the raw tables hold exactly what the embedded loader landed from the files."""
    load = kafka_load_complete
    assert load.broker_restart_exit == 0, "".join(load.broker_restart_log[-20:])
    events = [e["event"] for e in log_events(load.broker_restart_log)]
    assert "kafka unavailable, retrying" in events, "the loader did not notice the broker stop"
    assert events.count("ingest from kafka") == 1, "the loader restarted instead of waiting"

    platform_rows = raw_table_rows(load.settings)
    embedded_rows = raw_table_rows(Settings(home=pipeline_home))
    for name in embedded_rows:
        assert platform_rows[name] == embedded_rows[name], f"raw.{name} differs"


def test_status_on_the_platform_is_green_without_lag_and_sees_what_trino_serves(
    platform_home: KafkaLoad, pipeline_home
):
    """`dataplat status --from-kafka` after the loader drained the topics: every contract
    partition at lag 0, every mart's published build read from Trino's snapshots, and its
    newest bucket the embedded build's (the same data set)."""
    result = run_cli("status", "--from-kafka", "default", "--json", env=platform_home.env,
                     check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    partitions = found["partitions"]
    assert {p["topic"] for p in partitions} == set(ALL_TOPICS)
    assert all(p["lag"] == 0 and p["state"] == "ok" for p in partitions), partitions
    assert all(t["last_commit"] for t in found["raw_tables"])
    embedded = run_cli("status", "--json", env={"DATAPLAT_HOME": str(pipeline_home)})
    newest = {m["mart"]: m["newest_bucket"] for m in json.loads(embedded.stdout)["marts"]}
    assert {m["mart"]: m["newest_bucket"] for m in found["marts"]} == newest
    assert all(m["built_at"] for m in found["marts"]), found["marts"]


def trino_marts(settings) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every mart as the API's principal reads it."""
    connection = connect(
        **settings.trino_connection, catalog=settings.trino_catalog, schema="marts"
    )
    cursor = connection.cursor()
    cursor.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'marts' and table_type = 'BASE TABLE'"
    )
    marts = {}
    for (table,) in cursor.fetchall():
        cursor.execute(f'select * from marts."{table}"')
        rows = cursor.fetchall()
        marts[table] = comparable([d[0] for d in cursor.description], rows)
    connection.close()
    return marts


def test_every_mart_is_identical_on_trino_and_on_duckdb(platform_home: KafkaLoad, pipeline_home):
    """Same data set, two paths (files → DuckDB; Kafka → Trino, both incremental with late
    data): every row of every mart is the same."""
    embedded = published_marts(pipeline_home)
    platform_marts = trino_marts(platform_home.settings)
    assert sorted(platform_marts) == sorted(embedded)
    assert len(embedded) >= 20
    for table, (columns, rows) in embedded.items():
        trino_columns, trino_rows = platform_marts[table]
        assert trino_columns == columns, table
        assert len(rows) > 0, f"marts.{table} is empty: the comparison would prove nothing"
        assert trino_rows == rows, f"marts.{table} differs between Trino and DuckDB"


def test_data_quality_checks_run_on_trino_as_on_duckdb(platform_home: KafkaLoad, pipeline_home):
    """The volume checks of the Trino build are the embedded build's (same data set), read
    as an analyst; dbt's source freshness of the raw tables passes on Trino, as the daily
    DAG checks it before building (the loader committed minutes ago)."""
    with duckdb.connect(str(TransformSettings(home=pipeline_home).duckdb_path),
                        read_only=True) as con:  # fmt: skip
        result = con.execute("select * from monitoring.mall_volume_checks")
        embedded = comparable([d[0] for d in result.description], result.fetchall())
    analyst = platform.trino_settings("analyst_marketing").trino_connection
    connection = connect(**analyst, catalog="iceberg_readonly")
    try:
        cursor = connection.cursor()
        cursor.execute("select * from monitoring.mall_volume_checks")
        on_trino = comparable([d[0] for d in cursor.description], cursor.fetchall())
    finally:
        connection.close()
    assert embedded[1], "no volume checks: the comparison would prove nothing"
    assert on_trino == embedded

    freshness = run([sys.executable, "-c", FRESHNESS], platform_home.env)
    for table in RAW_TABLES:
        if table != REJECTED_TABLE:  # quiet while producers behave: no freshness
            assert f"PASS freshness of raw.{table}" in freshness.stdout, table
    verdicts = [line for line in freshness.stdout.splitlines()
                if " freshness of " in line and " START " not in line]  # fmt: skip
    assert verdicts and all(" PASS freshness of " in line for line in verdicts), verdicts


def test_trino_tables_carry_the_models_descriptions_as_comments(platform_home: KafkaLoad):
    """persist_docs on Trino: every model's table and documented columns have its YAML
    descriptions as comments, written by the CREATE TABLE that built the table
    (dbt_project/macros/trino_comments.sql). The two builds of the fixture (tables created,
    then an incremental run over them) wrote no COMMENT statement, since nothing differed;
    a column comment that differs (as after a description's edit) is written back by the
    model's next incremental run, and it alone. That run sets DATAPLAT_TRINO_THREADS, which
    reaches dbt's profile (the fixture's builds ran with the default 2)."""
    settings = TransformSettings(home=platform_home.home)
    logs_dir = platform_home.home / "logs"
    manifest = json.loads(dbt_manifest_path(settings).read_text())
    expected = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral":
            columns = {name.lower(): column["description"] or None
                       for name, column in node["columns"].items()}  # fmt: skip
            expected[(node["schema"], node["alias"])] = (node["description"] or None, columns)
    assert len(expected) >= 50 and all(columns for _, columns in expected.values())

    def issued() -> str:
        return "".join(path.read_text() for path in sorted(logs_dir.glob("dbt.log*"))).lower()

    assert "create or replace table" in issued() or "create table" in issued()
    assert "comment on column" not in issued() and "comment on table" not in issued()
    assert "concurrency: 2 threads" in issued() and "concurrency: 3 threads" not in issued()

    connection = connect(**platform.trino_settings("transform").trino_connection,
                         catalog=settings.trino_catalog)  # fmt: skip
    mart, stale_column = "platform_visitors_daily", "visitors"  # an incremental mart
    try:
        cursor = connection.cursor()
        cursor.execute(f"comment on column marts.{mart}.{stale_column} is 'stale'")
        cursor.fetchall()
        run_cli("transform", "--select", mart,
                env={**platform_home.env, "DATAPLAT_TRINO_THREADS": "3"})  # fmt: skip
        assert "concurrency: 3 threads" in issued()
        schemas = ", ".join(sorted({f"'{schema}'" for schema, _ in expected}))
        cursor.execute(
            "select table_schema, table_name, column_name, comment from information_schema.columns"
            f" where table_schema in ({schemas})"
        )
        stored = {}
        for schema, table, column, comment in cursor.fetchall():
            stored.setdefault((schema, table), [None, {}])[1][column] = comment
        cursor.execute(
            "select schema_name, table_name, comment from system.metadata.table_comments"
            f" where catalog_name = '{settings.trino_catalog}' and schema_name in ({schemas})"
        )
        for schema, table, comment in cursor.fetchall():
            if (schema, table) in stored:
                stored[(schema, table)][0] = comment
    finally:
        connection.close()
    for key, (description, columns) in expected.items():
        table_comment, column_comments = stored[key]
        assert table_comment == description, key
        assert {name: column_comments[name] for name in columns} == columns, key
    written = [line for line in issued().splitlines() if "comment on column" in line]
    assert len(written) == 1 and f'"{mart}".{stale_column} is' in written[0], written


FRESHNESS = """
from transform.build import run_dbt
from transform.settings import TransformSettings
run_dbt(TransformSettings(), ["source", "freshness", "--select", "source:raw"])
"""


def test_api_on_trino_reads_segments_with_bound_parameters(platform_api: httpx.Client):
    """Paging (OFFSET/LIMIT as parameters) and a hostile value reach Trino as bound values."""
    day = platform_api.get("/platform/mall-ranking", params={"as_of": "2026-02-01"}).json()
    mall = day["items"][0]["mall_id"]
    first = platform_api.get(
        "/crm/segments/abandoned-cart",
        params={"mall_id": mall, "as_of": "2026-02-01", "page_size": 2},
    )
    assert first.status_code == 200, first.text
    second = platform_api.get(
        "/crm/segments/abandoned-cart",
        params={"mall_id": mall, "as_of": "2026-02-01", "page_size": 2, "page": 2},
    )
    assert second.status_code == 200, second.text
    ids = [m["member_id"] for m in first.json()["items"] + second.json()["items"]]
    assert len(ids) == len(set(ids)) == min(4, first.json()["total"])
    hostile = platform_api.get(
        "/analytics/visitors/daily",
        params={"start": "2026-01-31' or '1'='1", "end": "2026-02-01"},
    )
    assert hostile.status_code == 422


def test_api_on_trino_reads_the_last_complete_build_while_a_rebuild_runs(
    platform_home: KafkaLoad, platform_api: httpx.Client
):
    """Between an incremental mart's delete and its insert (two Iceberg commits) the table
    lacks the days being rebuilt. HTTP reads loop while `dataplat transform` rebuilds the
    same days on Trino; the raw data does not change, so every answer must equal the one
    before the rebuild. The published tag must have moved onto the rebuilt snapshots, and the
    rebuilt days must have been dropped as whole partitions (no delete files)."""
    from api.engine import TrinoEngine
    from lakehouse.tables import PUBLISHED_TAG

    days = {"start": "2026-01-31", "end": "2026-02-01"}
    reads = {
        "platform days": ("/analytics/visitors/daily", days),
        "mall days": ("/analytics/visitors/daily", {**days, "mall_id": 1}),
        "mall hours": ("/analytics/visitors/hourly", {"date": "2026-02-01", "mall_id": 1}),
    }  # fmt: skip
    before = {}
    for name, (path, params) in reads.items():
        answer = platform_api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        before[name] = answer.json()
    assert sum(item["page_views"] for item in before["platform days"]["items"]) > 0

    catalog = open_catalog(platform_home.settings)
    rebuilt = ("mall_visitors_daily", "platform_visitors_daily", "mall_visitors_hourly",
               "dim_malls")  # fmt: skip

    def published() -> dict[str, int]:
        tables = {name: catalog.load_table(f"marts.{name}") for name in rebuilt}
        return {name: table.metadata.refs[PUBLISHED_TAG].snapshot_id
                for name, table in tables.items()}  # fmt: skip

    tagged_before = published()
    stop, seen = threading.Event(), []

    def read_in_a_loop() -> None:
        with httpx.Client(base_url=platform_api.base_url, headers=platform_api.headers,
                          timeout=60) as client:  # fmt: skip
            while not stop.is_set():
                for name, (path, params) in reads.items():
                    answer = client.get(path, params=params)
                    seen.append((name, answer.status_code, answer.text))

    reader = threading.Thread(target=read_in_a_loop, daemon=True)
    reader.start()
    try:
        run_cli("transform", "--from-day", "2026-01-31", "--to-day", "2026-02-01",
                "--select", " ".join(rebuilt), env=platform_home.env)  # fmt: skip
    finally:
        stop.set()
        reader.join(timeout=120)
    tagged_after = published()
    assert all(tagged_after[name] != tagged_before[name] for name in rebuilt), tagged_after
    # The incremental marts are partitioned by day: the rebuilt days' rows went as whole data
    # files, dropped in Iceberg's metadata, with no delete file written to be merged on read.
    for name in ("mall_visitors_daily", "platform_visitors_daily", "mall_visitors_hourly"):
        table = catalog.load_table(f"marts.{name}")
        since = table.snapshot_by_id(tagged_before[name]).sequence_number
        summaries = [s.summary for s in table.snapshots() if s.sequence_number > since]
        assert len(summaries) == 2, f"{name}: {summaries}"  # the delete, the insert
        assert sum(int(s.get("deleted-data-files") or 0) for s in summaries) > 0, summaries
        assert all(int(s.get("added-delete-files") or 0) == 0 for s in summaries), summaries
    # The API reuses results until it sees a tag move: its version follows the tags.
    engine = TrinoEngine(platform_home.settings.model_copy(
        update={"api_version_check_seconds": 0.5}))  # fmt: skip
    expected = {f"{name}@{snapshot}" for name, snapshot in tagged_after.items()}
    deadline = time.monotonic() + 60
    while not expected <= set((engine.version() or "").split()):
        assert time.monotonic() < deadline, f"the API's version lags: {engine.version()}"
        time.sleep(0.2)
    assert len(seen) >= 30, f"only {len(seen)} reads ran during the rebuild"
    for name, status, text in seen:
        assert status == 200, f"{name}: {status} {text}"
        assert json.loads(text) == before[name], f"{name} read a half-built mart: {text}"


def test_trino_down_gives_503_and_fails_readiness_not_liveness(platform_api: httpx.Client):
    daily = ("/analytics/visitors/daily", {"start": "2026-01-31", "end": "2026-02-01"})
    # Asked for 3 s while Trino is up: the API learns the published version in the background
    # (every 2 s by default) and keeps the answer (api/cache.py). What it kept must not hide
    # that Trino is gone.
    for _ in range(6):
        assert platform_api.get(daily[0], params=daily[1]).status_code == 200
        time.sleep(0.5)
    platform.down(("trino",))
    try:
        ready = platform_api.get("/readiness", headers={"Authorization": ""})  # no key needed
        assert ready.status_code == 503
        assert "Trino" in ready.json()["detail"] and "make platform-up" in ready.json()["detail"]
        # What is wrong and what to do; no address or engine error for whoever asks.
        assert "127.0.0.1" not in ready.text and "http" not in ready.text, ready.text
        data = platform_api.get(daily[0], params=daily[1])
        assert data.status_code == 503, data.text
        assert "Trino" in data.json()["detail"]
        assert platform_api.get("/liveness").status_code == 200
    finally:
        platform.up(("trino",))
    # A 503 tells clients to retry: a freshly started coordinator may need a few seconds more.
    deadline = time.monotonic() + 60
    while (ready := platform_api.get("/readiness")).status_code == 503:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ready.status_code == 200, ready.text


def test_trino_errors_split_into_retry_later_and_our_bug(platform_home: KafkaLoad):
    """A missing mart or a Trino that is not ready yet is a 503 the client can retry; an
    error in our own SQL stays an error (a 500 in the API) instead of hiding as "down"."""
    from trino.exceptions import TrinoQueryError

    from api.engine import EngineUnavailable, TrinoEngine

    engine = TrinoEngine(platform_home.settings)
    with pytest.raises(EngineUnavailable, match="run `dataplat transform`"):
        engine.fetch_all("select * from marts.no_such_mart")
    # A mart that exists but was never published (a build that failed its tests, say).
    catalog = open_catalog(platform_home.settings)
    catalog.create_table("marts.unpublished_probe", pa.schema([("n", pa.int64())]))
    try:
        with pytest.raises(EngineUnavailable, match="no published marts"):
            engine.fetch_all("select * from marts.unpublished_probe")
    finally:
        catalog.drop_table("marts.unpublished_probe")
    with pytest.raises(TrinoQueryError) as wrong:
        engine.fetch_all("select 1 / 0")
    assert wrong.value.error_name == "DIVISION_BY_ZERO"
    # What a coordinator answers in its first seconds (payloads as Trino sends them).
    for name, kind in [("SERVER_STARTING_UP", "INTERNAL_ERROR"),
                       ("NO_NODES_AVAILABLE", "INSUFFICIENT_RESOURCES")]:  # fmt: skip
        error = TrinoQueryError({"errorName": name, "errorType": kind, "message": name})
        translated = engine._translate(error)
        assert isinstance(translated, EngineUnavailable) and "make platform-up" in str(translated)


def test_publish_reports_an_unreachable_broker(small_dataset: Path):
    result = run_cli(
        "publish", "--from-dir", str(small_dataset), "--bootstrap", "127.0.0.1:1", check=False
    )
    assert result.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.stderr


def test_kafka_loader_commits_an_event_time_watermark(platform_home: KafkaLoad):
    from lakehouse.catalog import open_catalog
    from lakehouse.offsets import read_event_time_watermark

    table = open_catalog(platform_home.settings).load_table("raw.weblog_events")
    newest = max(row[4] for row in raw_table_rows(platform_home.settings)["weblog_events"])
    assert read_event_time_watermark(table) == newest
    assert json.loads(table.current_snapshot().summary["dataplat.offsets"])


def test_table_maintenance_through_trino_keeps_rows_and_offsets(platform_home: KafkaLoad):
    """Trino's optimize / expire_snapshots / remove_orphan_files on every raw table: fewer
    files, the same rows, the loader's tagged snapshot and offsets kept (it resumes from
    them). A retention under the catalog's one-day guard is refused, and says so."""
    from lakehouse.offsets import OFFSETS_TAG, read_watermarks

    settings = platform_home.settings
    catalog = open_catalog(settings)

    def state():
        tables = {name: catalog.load_table(f"raw.{name}") for name in RAW_TABLES}
        return (
            {name: len(list(t.scan().plan_files())) for name, t in tables.items()},
            {name: read_watermarks(t) for name, t in tables.items()},
            {name: t.metadata.refs[OFFSETS_TAG].snapshot_id for name, t in tables.items()},
        )

    rows_before = raw_table_rows(settings)
    files_before, offsets_before, tags_before = state()
    too_short = run_cli("maintain", env={**platform_home.env,
                                         "DATAPLAT_SNAPSHOT_RETENTION_HOURS": "0.0003"},
                        check=False)  # fmt: skip
    assert too_short.returncode == 1
    said = " ".join(too_short.stderr.split())  # the console wraps long lines
    assert "minimum retention" in said and "iceberg.expire-snapshots" in said
    result = run_cli("maintain", env=platform_home.env)
    assert "execute optimize" in result.stdout and "execute expire_snapshots" in result.stdout
    assert "execute remove_orphan_files" in result.stdout
    files_after, offsets_after, tags_after = state()
    assert offsets_after == offsets_before and tags_after == tags_before
    assert raw_table_rows(settings) == rows_before
    assert files_after["weblog_events"] < files_before["weblog_events"], (files_before, files_after)
    # Optimize committed on top of the loader's snapshot, without offsets: they are read
    # through the ancestry (or the tag) all the same.
    table = catalog.load_table("raw.weblog_events")
    assert table.current_snapshot().snapshot_id != tags_after["weblog_events"]


@pytest.fixture
def scratch_topic(platform_servers):
    """A topic of its own (two partitions) on the real broker, deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    connection = platform.kafka_settings().kafka_client_config  # the admin: creates topics
    admin = AdminClient(connection)
    topic = f"test.partitions-{time.time_ns()}"
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
    yield connection, topic
    admin.delete_topics([topic])[topic].result()


def read_until_stopped(source, partitions: int = 1, timeout: float = 60) -> list[tuple]:
    """Polls until ``partitions`` partitions are stopped and the rest read to their end;
    returns the (partition, offset) of every record read."""
    read = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = source.poll(timeout=1.0)
            if batch is not None:
                read += zip(batch["partition"].to_pylist(), batch["offset"].to_pylist(),
                            strict=True)  # fmt: skip
            elif len(source.stopped) >= partitions and source.caught_up():
                return sorted(read)
    finally:
        source.close()
    raise AssertionError(f"not stopped in {timeout} s: {source.stopped}, read {read}")


def test_offsets_the_broker_no_longer_has_stop_that_partition_with_the_cause(scratch_topic):
    """Stored offsets outside a partition's range on the real broker: records deleted before
    they were loaded (retention, delete-records), or a partition shorter than what was
    loaded. That partition stops with what happened and the command that moves it on; it
    never jumps to another offset in silence, and the other partition goes on."""
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient

    from loader.kafka_source import KafkaSource

    connection, topic = scratch_topic
    producer = Producer(connection)
    for i in range(10):
        producer.produce(topic, value=str(i).encode(), partition=0)
        producer.produce(topic, value=str(i).encode(), partition=1)
    assert producer.flush(30) == 0
    # Offsets 0-7 of partition 0 deleted, as retention would: a loader at 5 has lost 5-7.
    admin = AdminClient(connection)
    (deleted,) = admin.delete_records([TopicPartition(topic, 0, 8)]).values()
    deleted.result()

    for loaded, cause in ((5, "deleted by the broker"), (50, "recreated or truncated")):
        resume = {0: loaded, 1: 3}
        source = KafkaSource(connection, f"{topic}-group", (topic,), lambda t, p: resume[p])  # noqa: B023
        read = read_until_stopped(source)
        assert read == [(1, o) for o in range(3, 10)], "partition 1 must go on"
        (reason,) = source.stopped.values()
        assert f"{topic}[0]" in reason and f"before offset {loaded}" in reason
        assert "offsets 8 to 9" in reason and cause in reason
        assert f"dataplat offsets rebase --topic {topic} --partition 0 --to" in reason


def test_a_recreated_topic_is_stopped_not_taken_for_loaded_records(scratch_topic):
    """The raw tables were loaded from another topic of the same name (another id): its
    offsets restart, so the new records at offsets below the watermark would pass for loaded
    ones. Every partition of it stops, naming both ids; nothing is read."""
    from confluent_kafka import Producer

    from loader.kafka_source import KafkaSource

    connection, topic = scratch_topic
    producer = Producer(connection)
    for i in range(20):
        producer.produce(topic, value=str(i).encode(), partition=i % 2)
    assert producer.flush(30) == 0
    source = KafkaSource(connection, f"{topic}-group", (topic,), lambda t, p: 4,
                         loaded_topic_id=lambda t: "the-old-topic-id")  # fmt: skip
    assert read_until_stopped(source, partitions=2) == []
    assert set(source.stopped) == {(topic, 0), (topic, 1)}
    reason = source.stopped[(topic, 1)]
    assert "deleted and created again" in reason and "the-old-topic-id" in reason
    assert f"dataplat offsets rebase --topic {topic} --partition 1 --to 0" in reason
    # The same topic, loaded from its own id: read from the stored offsets.
    current = KafkaSource(connection, f"{topic}-group", (topic,), lambda t, p: 4,
                          loaded_topic_id=lambda t: source_ids[t])  # fmt: skip
    source_ids = {topic: current._current_topic_ids([topic])[topic]}
    read = read_until_stopped(current, partitions=0)
    assert read == [(p, o) for p in (0, 1) for o in range(4, 10)]


def test_replayed_topics_keep_records_older_than_the_brokers_retention(platform_home: KafkaLoad):
    """`dataplat publish` replays records with their dumped timestamps (January 2026): the
    topics it creates have no time or size retention, so the broker never deletes them
    before the loader reads them."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    from lakehouse.tables import ALL_TOPICS

    admin = AdminClient(platform.kafka_settings().kafka_client_config)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in ALL_TOPICS]
    for resource, future in admin.describe_configs(resources).items():
        config = future.result()
        assert config["retention.ms"].value == "-1", resource
        assert config["retention.bytes"].value == "-1", resource
