"""Airflow's settings: alerts, the pool dbt tasks share, the watermark sensors, on top of the
transform's (the DAGs build the dbt project). Maintenance tasks read ``MaintenanceSettings``."""

from __future__ import annotations

from functools import lru_cache

from transform.settings import TransformSettings


class OrchestrationSettings(TransformSettings):
    alert_webhook_url: str | None = None
    airflow_dbt_pool: str = "dataplat_dbt"
    watermark_poke_seconds: float = 60
    watermark_timeout_hours: float = 12


@lru_cache
def get_settings() -> OrchestrationSettings:
    return OrchestrationSettings()
