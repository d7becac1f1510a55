"""The marts on schedules, in Asia/Seoul time as metrics.md defines the periods.

- ``dataplat_hourly``: each hour, once the loader has landed events through its end, the
  hourly visitor marts (dbt tag ``hourly``) and everything upstream of them.
- ``dataplat_daily``: each day, once landed through midnight, the marts tagged ``daily``
  (visitors, tops, orders, segments, platform) in parallel where the dbt graph allows. Its
  days are rebuilt from the raw tables whatever was ingested, so a re-run or a backfill
  (``airflow backfill create --dag-id dataplat_daily ...``) rebuilds exactly those days.
- ``dataplat_monthly``: the marts tagged ``monthly``, triggered by the asset the daily DAG
  emits after the last day of a month: a late daily run delays it, never skips it.

Analysts add a mart by tagging it in dbt_project.yml; no Python changes.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    PokeReturnValue,
    get_current_context,
    task,
)

from orchestration.alerts import post_failure_alert
from orchestration.dbt import KST, dbt_task_group, kst_day
from orchestration.settings import get_settings
from orchestration.watermark import period_is_loaded

settings = get_settings()
embedded = settings.engine == "duckdb"

MARTS_HOURLY = Asset("dataplat://marts/hourly")
MARTS_DAILY = Asset("dataplat://marts/daily")
MONTH_CLOSED = Asset("dataplat://marts/month-closed")
MARTS_MONTHLY = Asset("dataplat://marts/monthly")

START = datetime(2026, 1, 1, tzinfo=KST)
DEFAULT_ARGS = {"owner": "data-platform", "on_failure_callback": post_failure_alert}
# The interval's KST day, rebuilt whatever was ingested (see the rebuild_* vars in dbt).
DAY_VARS = {
    "rebuild_from": "{{ kst_day(data_interval_start) }}",
    "rebuild_to": "{{ kst_day(data_interval_start) }}",
}


@task.sensor(
    poke_interval=settings.watermark_poke_seconds,
    timeout=settings.watermark_timeout_hours * 3600,
    mode="reschedule",
)
def wait_for_loader(data_interval_end: datetime | None = None) -> PokeReturnValue:
    """Done once the loader's committed event-time watermark reaches the interval's end."""
    assert data_interval_end is not None
    return PokeReturnValue(is_done=period_is_loaded(get_settings(), data_interval_end))


@task(pool=settings.airflow_dbt_pool)
def pin_raw_snapshots() -> None:
    """Embedded: point the build's raw views at the tables' current snapshots, so every model
    of the run reads the same data. Trino: check the raw tables exist."""
    from transform.build import refresh_raw_views, source_locations

    current = get_settings()
    if current.engine == "duckdb":
        refresh_raw_views(current)
    else:
        source_locations(current)


@task(pool=settings.airflow_dbt_pool)
def publish_marts(dbt_tag: str) -> str | None:
    """Hands the built and tested marts to the API. Embedded: an atomic switch to a copy of
    the marts. Trino: the marts of this DAG's dbt tag get the published tag the API reads."""
    from transform.build import marts_tagged
    from transform.build import publish_marts as publish

    current = get_settings()
    if current.engine == "duckdb":
        return str(publish(current))
    publish(current, marts_tagged(current, dbt_tag))
    return None


def _marts_dag(
    dag_id: str, schedule, tag: str, *, waits: bool, outlet: Asset, doc: str
) -> tuple[DAG, object]:
    """pin raw snapshots → dbt models and tests of ``+tag:<tag>`` → publish; scheduled
    periods first wait for the loader to land them."""
    dag = DAG(
        dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        user_defined_macros={"kst_day": kst_day},
        tags=["dataplat", "marts", tag],
        doc_md=doc,
    )
    with dag:
        build = dbt_task_group(f"dbt_{tag}", tag, settings, DAY_VARS if waits else None)
        publish = publish_marts.override(outlets=[outlet])(tag)
        pin = pin_raw_snapshots()
        if waits:
            wait_for_loader() >> pin
        pin >> build >> publish
    return dag, publish


hourly, _ = _marts_dag(
    "dataplat_hourly",
    CronDataIntervalTimetable("0 * * * *", timezone="Asia/Seoul"),
    "hourly",
    waits=True,
    outlet=MARTS_HOURLY,
    doc="Hourly visitor marts of the last completed KST hour (its whole day is rebuilt).",
)


@task.short_circuit
def month_has_closed(data_interval_end: datetime | None = None) -> bool:
    """True when the day just built was the last of its month."""
    assert data_interval_end is not None
    return data_interval_end.astimezone(KST).day == 1


@task(outlets=[MONTH_CLOSED])
def announce_month_closed(data_interval_start: datetime | None = None) -> None:
    assert data_interval_start is not None
    month = data_interval_start.astimezone(KST).strftime("%Y-%m")
    get_current_context()["outlet_events"][MONTH_CLOSED].extra = {"month": month}


daily, daily_publish = _marts_dag(
    "dataplat_daily",
    CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Seoul"),
    "daily",
    waits=True,
    outlet=MARTS_DAILY,
    doc="Daily, top, order, segment and platform marts of the last completed KST day.",
)
with daily:
    daily_publish >> month_has_closed() >> announce_month_closed()

monthly, _ = _marts_dag(
    "dataplat_monthly",
    [MONTH_CLOSED],
    "monthly",
    waits=False,
    outlet=MARTS_MONTHLY,
    doc="Monthly marts, once the daily DAG has built the last day of a month.",
)
