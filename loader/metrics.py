"""The Kafka loader's Prometheus metrics, served on their own port (``DATAPLAT_LOADER_METRICS_*``):
what each commit landed and rejected per topic, how long commits take and how big batches are,
and how far each topic-partition lags (the broker's end offset minus the offset committed to
Iceberg with the data), with the event-time watermark and the time of the last commit."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from lakehouse.tables import ALL_TOPICS, table_for_topic
from loader.sink import BatchStats

log = structlog.get_logger("loader.metrics")

TOPIC_OF_TABLE = {table_for_topic(topic): topic for topic in ALL_TOPICS}
COMMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 10, 100, 1_000, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000)
TopicPartition = tuple[str, int]


class LoaderMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.port: int | None = None  # where they are served, once they are
        self._server: WSGIServer | None = None
        self.rows_landed = Counter(
            "dataplat_loader_rows_landed",
            "Rows committed to a topic's raw table (tombstones and records already loaded "
            "land no row).",
            ["topic"],
            registry=registry,
        )
        self.rejected = Counter(
            "dataplat_loader_messages_rejected",
            "Messages kept aside in raw.rejected_messages, with their reason, by topic.",
            ["topic"],
            registry=registry,
        )
        for topic in ALL_TOPICS:  # every topic present from the start, at 0
            self.rows_landed.labels(topic)
            self.rejected.labels(topic)
        self.commit_seconds = Histogram(
            "dataplat_loader_commit_duration_seconds",
            "Time to commit one batch to Iceberg (every raw table it adds rows to).",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.batch_records = Histogram(
            "dataplat_loader_batch_records",
            "Kafka records per committed batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.pending_records = Gauge(
            "dataplat_loader_pending_records",
            "Records read from Kafka and not yet committed to Iceberg.",
            registry=registry,
        )
        self.end_offset = Gauge(
            "dataplat_loader_end_offset",
            "The broker's end offset (the next offset it will write) per topic-partition, "
            "when last asked.",
            ["topic", "partition"],
            registry=registry,
        )
        self.committed_offset = Gauge(
            "dataplat_loader_committed_offset",
            "The next offset to load per topic-partition, as committed to Iceberg with the data.",
            ["topic", "partition"],
            registry=registry,
        )
        self.lag = Gauge(
            "dataplat_loader_consumer_lag_records",
            "Records in Kafka not yet in Iceberg: end offset minus committed offset.",
            ["topic", "partition"],
            registry=registry,
        )
        self.event_time_watermark = Gauge(
            "dataplat_loader_event_time_watermark_seconds",
            "Unix time of the newest plausible weblog event committed (NaN: none yet).",
            registry=registry,
        )
        self.event_time_watermark.set(math.nan)
        self.last_commit = Gauge(
            "dataplat_loader_last_commit_timestamp_seconds",
            "Unix time of this process's last Iceberg commit (its start time before the first).",
            registry=registry,
        )
        self._last_commit_time = time.time()
        self.last_commit.set(self._last_commit_time)
        self.last_commit_age = Gauge(
            "dataplat_loader_last_commit_age_seconds",
            "Seconds since this process's last Iceberg commit (since its start before the "
            "first). Grows while nothing arrives; with lag above 0 the loader is stuck.",
            registry=registry,
        )
        self.last_commit_age.set_function(lambda: time.time() - self._last_commit_time)

    def serve(self, host: str, port: int) -> None:
        """Serves the metrics over HTTP in a background thread (port 0: any free port, then
        ``self.port`` says which). A port taken is logged, never fatal: loading goes on."""
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("loader metrics not served: set DATAPLAT_LOADER_METRICS_PORT to a free "
                      "port", host=host, port=port, error=str(exc))  # fmt: skip
            return
        self._server = server
        self.port = server.server_port
        log.info("loader metrics served", url=f"http://{host}:{self.port}/metrics")

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def committed(self, stats: BatchStats, seconds: float, watermark: datetime | None) -> None:
        """One batch committed: ``stats`` is what it landed."""
        for table, rows in stats.rows.items():
            if table in TOPIC_OF_TABLE:
                self.rows_landed.labels(TOPIC_OF_TABLE[table]).inc(rows)
        for topic, count in stats.rejected_by_topic.items():
            self.rejected.labels(topic).inc(count)
        self.commit_seconds.observe(seconds)
        self.batch_records.observe(stats.records)
        self._last_commit_time = time.time()
        self.last_commit.set(self._last_commit_time)
        self.event_time(watermark)

    def event_time(self, watermark: datetime | None) -> None:
        """The event-time watermark committed (at start: the one the tables hold)."""
        if watermark is not None:
            self.event_time_watermark.set(watermark.timestamp())

    def offsets(
        self, end: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
    ) -> None:
        """The broker's end offsets (as just asked) against the offsets committed to Iceberg."""
        for (topic, partition), end_offset in end.items():
            labels = (topic, str(partition))
            done = committed.get((topic, partition), 0)
            self.end_offset.labels(*labels).set(end_offset)
            self.committed_offset.labels(*labels).set(done)
            self.lag.labels(*labels).set(end_offset - done)  # below 0: the topic was recreated
