"""`dataplat status`: how fresh the platform is, on one screen, and whether anything is stale.

Per raw table: the loader's last commit (the snapshot its tag points at), the event-time
watermark, and the rows it committed today (KST). Per topic-partition (with Kafka): the lag,
the broker's end offset minus the offset committed to Iceberg. Per mart: when the published
build was made and its newest bucket (hour, day, month or as-of day). Stale means: a
partition the loader cannot continue, lag past a bound, lag while the loader has not
committed for too long, or marts built too long before the raw data that came since."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field
from pyiceberg.table.snapshots import Operation

from api.engine import EngineUnavailable, QueryEngine, create_engine, sql_identifier, sql_string
from api.settings import ApiSettings
from lakehouse import offsets
from lakehouse.catalog import ensure_raw_tables, open_catalog
from lakehouse.tables import PUBLISHED_TAG, WEBLOG_TABLE
from loader.partitions import OK, PartitionState, partition_states
from loader.settings import LoaderSettings

KST = ZoneInfo("Asia/Seoul")
# The column that names a mart's buckets, first match wins (dim_malls has none).
BUCKET_COLUMNS = ("hour_kst", "date_kst", "month_kst", "as_of_date")


class StatusSettings(LoaderSettings):
    # Stale past these (DATAPLAT_STATUS_*): records a partition may lag behind the broker;
    # minutes the loader may go without a commit while some partition lags; minutes the
    # published marts may be older than the newest raw data committed since their build.
    status_max_lag_records: int = Field(default=1_000_000, ge=0)
    status_max_commit_age_minutes: float = Field(default=15, gt=0)
    status_max_mart_delay_minutes: float = Field(default=120, gt=0)


@dataclass
class RawTableStatus:
    table: str
    last_commit: datetime | None  # the loader's, not maintenance's
    event_time_watermark: datetime | None
    rows_today: int  # committed by the loader since 00:00 KST


@dataclass
class MartStatus:
    mart: str
    built_at: datetime | None
    newest_bucket: str | None


@dataclass
class Status:
    raw_tables: list[RawTableStatus]
    partitions: list[PartitionState] | None  # None: Kafka not asked
    marts: list[MartStatus]
    marts_unreadable: str | None = None  # why the marts could not be read
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        return {
            "ok": not self.problems,
            "problems": self.problems,
            "raw_tables": [{k: plain(v) for k, v in asdict(t).items()} for t in self.raw_tables],
            "partitions": None
            if self.partitions is None
            else [p.as_dict() for p in self.partitions],
            "marts": [{k: plain(v) for k, v in asdict(m).items()} for m in self.marts],
            "marts_unreadable": self.marts_unreadable,
        }


def _utc(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def raw_table_statuses(settings: LoaderSettings, now: datetime) -> list[RawTableStatus]:
    today_start = datetime.combine(now.astimezone(KST).date(), datetime.min.time(), KST)
    statuses = []
    for name, table in ensure_raw_tables(open_catalog(settings)).items():
        tagged = offsets.tagged_snapshot(table)
        # The loader's commits are appends carrying offsets (maintenance rewrites, which
        # repeat the offsets, are not appends).
        rows_today = sum(
            int(snapshot.summary["added-records"] or 0)
            for snapshot in table.snapshots()
            if snapshot.summary is not None
            and snapshot.summary.operation == Operation.APPEND
            and snapshot.summary[offsets.OFFSETS_PROPERTY]
            and _utc(snapshot.timestamp_ms) >= today_start
        )
        watermark = offsets.read_event_time_watermark(table) if name == WEBLOG_TABLE else None
        statuses.append(
            RawTableStatus(
                name,
                None if tagged is None else _utc(tagged.timestamp_ms),
                watermark,
                rows_today,
            )
        )
    return statuses


def mart_statuses(engine: QueryEngine, settings: ApiSettings) -> list[MartStatus]:
    """Each published mart's build time and newest bucket, read the way the API reads."""
    columns: dict[str, list[str]] = {}
    for row in engine.fetch_all(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position"
    ):
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    built = _build_times(engine, settings, list(columns))
    statuses = []
    for mart, names in sorted(columns.items()):
        bucket = next((c for c in BUCKET_COLUMNS if c in names), None)
        newest = None
        # On Trino a table without the published tag (a build's scratch table) has no
        # published version to read.
        if bucket is not None and mart in built:
            rows = engine.fetch_all(f"select max({bucket}) as newest from marts.{mart}")
            value = rows[0]["newest"]
            newest = None if value is None else str(value)
        statuses.append(MartStatus(mart, built.get(mart), newest))
    return statuses


def _build_times(
    engine: QueryEngine, settings: ApiSettings, marts: list[str]
) -> dict[str, datetime]:
    """Embedded: when the published marts file was written (one build for all). Trino: when
    each mart's published snapshot was committed."""
    if settings.engine == "duckdb":
        path = os.path.realpath(settings.serving_link)
        built = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
        return dict.fromkeys(marts, built)
    if not marts:
        return {}
    rows = engine.fetch_all(  # type: ignore[call-arg]
        " union all ".join(
            f"select {sql_string(mart)} as mart, s.committed_at "
            f"from marts.{sql_identifier(mart + '$refs')} r "
            f"join marts.{sql_identifier(mart + '$snapshots')} s on s.snapshot_id = r.snapshot_id "
            f"where r.name = {sql_string(PUBLISHED_TAG)}"
            for mart in marts
        ),
        published=False,
    )
    return {r["mart"]: r["committed_at"].astimezone(UTC) for r in rows if r["committed_at"]}


def problems(status: Status, settings: StatusSettings, now: datetime) -> list[str]:
    """One line per stale thing, naming it and what to do."""
    found = []
    last_commit = max((t.last_commit for t in status.raw_tables if t.last_commit), default=None)
    commit_age = None if last_commit is None else now - last_commit
    max_age = timedelta(minutes=settings.status_max_commit_age_minutes)
    for p in status.partitions or []:
        where = f"{p.topic}[{p.partition}]"
        if p.state != OK:
            found.append(f"{where}: {p.state}; see `dataplat offsets show --from-kafka`")
        elif p.lag is not None and p.lag > settings.status_max_lag_records:
            found.append(f"{where} lags {p.lag:,} records (bound "
                         f"{settings.status_max_lag_records:,}, DATAPLAT_STATUS_MAX_LAG_RECORDS): "
                         "is `dataplat ingest --from-kafka` running and keeping up?")  # fmt: skip
        elif p.lag and (commit_age is None or commit_age > max_age):
            since = (
                "never" if commit_age is None else f"{commit_age.total_seconds() / 60:.0f} min ago"
            )
            found.append(f"{where} lags {p.lag:,} records and the loader last committed "
                         f"{since}: is `dataplat ingest --from-kafka` running?")  # fmt: skip
    if status.marts_unreadable is not None:
        found.append(status.marts_unreadable)
    elif not status.marts:
        found.append("no published marts: run `dataplat transform`")
    built = min((m.built_at for m in status.marts if m.built_at), default=None)
    delay = timedelta(minutes=settings.status_max_mart_delay_minutes)
    if built is not None and last_commit is not None and last_commit - built > delay:
        found.append(f"marts built {built:%Y-%m-%d %H:%M} UTC, raw data committed until "
                     f"{last_commit:%Y-%m-%d %H:%M} UTC (bound {delay}, "
                     "DATAPLAT_STATUS_MAX_MART_DELAY_MINUTES): run `dataplat transform` or "
                     "check the Airflow DAGs")  # fmt: skip
    return found


def gather(
    settings: StatusSettings, api_settings: ApiSettings, *, kafka: bool, now: datetime | None = None
) -> Status:
    now = now or datetime.now(UTC)
    raw = raw_table_statuses(settings, now)
    partitions = partition_states(settings, kafka=True) if kafka else None
    try:
        status = Status(raw, partitions, mart_statuses(create_engine(api_settings), api_settings))
    except EngineUnavailable as exc:
        status = Status(raw, partitions, [], marts_unreadable=str(exc))
    status.problems = problems(status, settings, now)
    return status
