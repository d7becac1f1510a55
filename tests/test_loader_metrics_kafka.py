"""The Kafka loader's metrics on the real broker: while it runs, each topic-partition's lag
served on its metrics port equals the broker's end offset minus the offset committed to
Iceberg; landed and rejected counts per topic equal what the tables hold. Once it stops with
records still arriving, `dataplat status` turns red and names the lagging partitions.

The records go to scratch topics read as the contract topics, as in
test_loader_properties_kafka.py (its fixtures and source wrapper)."""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import loader.kafka_source
import loader.partitions
import loader.service
from api.settings import ApiSettings
from dataplat.status import StatusSettings, gather
from lakehouse import offsets
from lakehouse.catalog import open_catalog
from lakehouse.settings import KafkaSettings
from lakehouse.tables import RAW_NAMESPACE, REJECTED_TABLE, table_for_topic
from loader.metrics import LoaderMetrics
from loader.service import ingest_kafka
from loader.settings import LoaderSettings
from tests.test_loader_properties_kafka import (  # noqa: F401 (fixtures)
    PARTITIONS,
    TOPICS,
    hostile_messages,
    kafka_admin,
    produce,
    run_loader,
    scratch_loader_settings,
    scratch_source,
    scratch_topics,
)

pytestmark = [pytest.mark.slow, pytest.mark.platform]
Partition = tuple[str, int]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def per_partition(scraped: dict, name: str) -> dict[Partition, float]:
    return {
        (dict(labels)["topic"], int(dict(labels)["partition"])): value
        for (metric, labels), value in scraped.items()
        if metric == name
    }


def broker_end_offsets(kafka: KafkaSettings, names: dict[str, str]) -> dict[Partition, int]:
    """Each contract topic's partitions' end offsets, as the broker says now."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient(kafka.kafka_client_config)
    wanted = {TopicPartition(names[t], p): OffsetSpec.latest()
              for t in TOPICS for p in range(PARTITIONS)}  # fmt: skip
    contract = {scratch: topic for topic, scratch in names.items()}
    return {(contract[tp.topic], tp.partition): future.result().offset
            for tp, future in admin.list_offsets(wanted, request_timeout=10).items()}  # fmt: skip


def committed_offsets(settings: LoaderSettings) -> dict[Partition, int]:
    """The next offset to load per contract topic-partition, read from its raw table's
    snapshot summary (what the loader resumes from)."""
    catalog = open_catalog(settings)
    committed = {}
    for topic in TOPICS:
        table = catalog.load_table((RAW_NAMESPACE, table_for_topic(topic)))
        marks = offsets.read_watermarks(table)
        committed |= {(topic, p): marks.get((topic, p), 0) for p in range(PARTITIONS)}
    return committed


def test_lag_is_the_brokers_end_offset_minus_the_committed_offset(
    kafka_admin: KafkaSettings,  # noqa: F811
    scratch_topics: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    messages = hostile_messages()
    half = len(messages) // 2
    with tempfile.TemporaryDirectory(prefix="loader-metrics-kafka-") as tmp:
        settings = scratch_loader_settings(
            kafka_admin,
            Path(tmp),
            "test-metrics",
            loader_metrics_port=0,  # any free port: metrics.port says which
            loader_lag_refresh_seconds=0.2,
            commit_interval_seconds=3600,  # the second half stays read and uncommitted
        )
        first = produce(kafka_admin, scratch_topics, messages[:half])
        run_loader(settings, scratch_topics, monkeypatch)  # lands the first half
        second = produce(kafka_admin, scratch_topics, messages[half:])
        assert second, "nothing produced: the lag would prove nothing"

        metrics, seen, failures = LoaderMetrics(), {}, []
        default_handler = signal.getsignal(signal.SIGTERM)

        def watch() -> None:
            """Scrapes over HTTP until the loader has read the second half; then its lag
            must equal broker end offsets minus Iceberg's committed offsets."""
            deadline = time.monotonic() + 90
            try:
                while metrics.port is None or signal.getsignal(signal.SIGTERM) is default_handler:
                    assert time.monotonic() < deadline, "the loader never served its metrics"
                    time.sleep(0.05)
                url = f"http://127.0.0.1:{metrics.port}/metrics"
                while True:
                    scraped = samples(httpx.get(url, timeout=10).text)
                    pending = scraped[("dataplat_loader_pending_records", ())]
                    if pending == len(second):
                        ends = broker_end_offsets(kafka_admin, scratch_topics)
                        committed = committed_offsets(settings)
                        expected = {tp: ends[tp] - committed[tp] for tp in ends}
                        lag = per_partition(scraped, "dataplat_loader_consumer_lag_records")
                        if lag == expected:
                            seen.update(lag=lag, ends=ends, committed=committed)
                            return
                    assert time.monotonic() < deadline, f"lag never matched: {scraped}"
                    time.sleep(0.1)
            except BaseException as exc:  # re-raised in the test's thread
                failures.append(exc)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the loader's handler: commit and stop

        watcher = threading.Thread(target=watch)
        watcher.start()
        with monkeypatch.context() as patch:
            patch.setattr(loader.service, "ALL_TOPICS", TOPICS)
            patch.setattr(loader.kafka_source, "KafkaSource", scratch_source(scratch_topics))
            stats = ingest_kafka(settings, show_progress=False, metrics=metrics)
        watcher.join()
        if failures:
            raise failures[0]

        # While it ran: the second half was in Kafka and not yet in Iceberg, partition by
        # partition, and the committed offsets were where the first run left them.
        assert sum(seen["lag"].values()) == len(second)
        assert seen["committed"] == {tp: seen["ends"][tp] - seen["lag"][tp] for tp in seen["ends"]}
        assert sum(seen["committed"].values()) == len(first)

        # After the SIGTERM: one commit landed it all, the lag is 0 everywhere, and the
        # counts per topic are the table rows this run added.
        final = samples(generate_latest(metrics.registry).decode())
        lag = per_partition(final, "dataplat_loader_consumer_lag_records")
        assert lag == dict.fromkeys(seen["ends"], 0)
        assert final[("dataplat_loader_commit_duration_seconds_count", ())] == 1
        assert final[("dataplat_loader_batch_records_sum", ())] == stats.records == len(second)
        for topic in TOPICS:
            landed = final[("dataplat_loader_rows_landed_total", (("topic", topic),))]
            assert landed == stats.rows.get(table_for_topic(topic), 0), topic
            rejected = final[("dataplat_loader_messages_rejected_total", (("topic", topic),))]
            assert rejected == stats.rejected_by_topic.get(topic, 0), topic
        assert sum(stats.rejected_by_topic.values()) == stats.rows.get(REJECTED_TABLE, 0) > 0
        assert final[("dataplat_loader_last_commit_age_seconds", ())] < 60


def test_status_turns_red_naming_the_lagging_partitions_once_the_loader_stops(
    kafka_admin: KafkaSettings,  # noqa: F811
    scratch_topics: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    """The loader lands what is in Kafka and stops; records keep arriving. Status reads the
    broker's end offsets (of the scratch topics, as the contract topics they stand in for)
    and the offsets committed to Iceberg."""
    contract = {scratch: topic for topic, scratch in scratch_topics.items()}
    broker_view = loader.partitions._broker_view

    def contract_view(connection: dict) -> dict:
        with monkeypatch.context() as patch:
            patch.setattr(loader.partitions, "ALL_TOPICS", tuple(contract))
            found = broker_view(connection)
        return {(contract[topic], p): ends for (topic, p), ends in found.items()}

    monkeypatch.setattr(loader.partitions, "_broker_view", contract_view)
    messages = hostile_messages()
    half = len(messages) // 2
    with tempfile.TemporaryDirectory(prefix="status-kafka-") as tmp:
        loader_settings = scratch_loader_settings(kafka_admin, Path(tmp), "test-status")
        settings = StatusSettings(**loader_settings.model_dump(exclude_unset=True))
        api_settings = ApiSettings(home=loader_settings.home)

        def lag_problems(**bounds: float) -> list[str]:
            bounded = settings.model_copy(update=bounds)
            found = gather(bounded, api_settings, kafka=True)
            assert {p.topic for p in found.partitions} >= set(TOPICS)
            return [problem for problem in found.problems if " lags " in problem]

        produce(kafka_admin, scratch_topics, messages[:half])
        run_loader(loader_settings, scratch_topics, monkeypatch)  # lands it all, then stops
        assert lag_problems(status_max_lag_records=0, status_max_commit_age_minutes=0.001) == []

        arrived = produce(kafka_admin, scratch_topics, messages[half:])
        waiting: dict[tuple[str, int], int] = {}
        for topic, partition, _ in arrived:
            waiting[(topic, partition)] = waiting.get((topic, partition), 0) + 1
        assert waiting, "nothing produced: the lag would prove nothing"

        # Within the default bounds (the loader committed a moment ago): green.
        assert lag_problems() == []
        # Once the last commit is older than the bound: red, one line per lagging partition.
        red = lag_problems(status_max_commit_age_minutes=0.001)
        expected = [
            f"{topic}[{partition}] lags {lag:,} records and the loader last committed "
            f"N min ago: is `dataplat ingest --from-kafka` running?"
            for (topic, partition), lag in waiting.items()
        ]
        ages = [re.sub(r"committed \d+ min ago", "committed N min ago", line) for line in red]
        assert sorted(ages) == sorted(expected)
        # More records waiting than the bound: red whatever the commit's age.
        over = lag_problems(status_max_lag_records=0)
        assert {line.split(" lags ")[0] for line in over} == {f"{t}[{p}]" for t, p in waiting}
        assert all("DATAPLAT_STATUS_MAX_LAG_RECORDS" in line for line in over)
