"""Table maintenance of the raw Iceberg tables and the audit table, daily at 04:00 KST, one
task per table: small-file compaction, snapshot expiry and orphan-file removal
(lakehouse/maintenance.py), with retention from the settings. The loader keeps committing
while it runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

from lakehouse.maintenance import maintained_table_names
from lakehouse.settings import MaintenanceSettings
from orchestration.alerts import post_failure_alert
from orchestration.dbt import KST


@task(retries=2, retry_delay=timedelta(minutes=5))
def maintain_table(table: str) -> dict:
    from lakehouse.maintenance import maintain_embedded, maintain_on_trino

    settings = MaintenanceSettings()
    if settings.engine == "trino":
        return {"table": table, "statements": maintain_on_trino(settings, [table])}
    (report,) = maintain_embedded(settings, [table])
    return {
        "table": table,
        "files_compacted": report.files_compacted,
        "files_written": report.files_written,
        "snapshots_expired": report.snapshots_expired,
        "orphans_removed": report.orphans_removed,
    }


with DAG(
    "dataplat_maintenance",
    schedule=CronTriggerTimetable("0 4 * * *", timezone="Asia/Seoul"),
    start_date=datetime(2026, 1, 1, tzinfo=KST),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-platform", "on_failure_callback": post_failure_alert},
    tags=["dataplat", "maintenance"],
    doc_md=__doc__,
) as maintenance:
    maintain_table.expand(table=maintained_table_names())
