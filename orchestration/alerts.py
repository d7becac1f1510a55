"""Failure alerts: a task that fails for good posts to the company messenger's webhook."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from orchestration.settings import get_settings

log = structlog.get_logger("orchestration.alerts")


def alert_payload(context: dict[str, Any]) -> dict[str, Any]:
    ti = context["ti"]
    logical_date = context.get("logical_date")
    exception = context.get("exception")
    fields = {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "try_number": ti.try_number,
        "log_url": ti.log_url,
        "error": str(exception) if exception else None,
    }
    # "text" is what Slack-style webhooks show; the fields let a bot route the alert.
    text = (
        f"dataplat: {fields['dag_id']}.{fields['task_id']} failed "
        f"(logical date {fields['logical_date']}, try {fields['try_number']}): {fields['log_url']}"
    )
    return {"text": text, **fields}


def post_failure_alert(context: dict[str, Any]) -> None:
    """on_failure_callback: never raises, so a messenger outage cannot hide the failure."""
    url = get_settings().alert_webhook_url
    payload = alert_payload(context)
    if not url:
        log.warning("task failed; no DATAPLAT_ALERT_WEBHOOK_URL to alert", **payload)
        return
    try:
        httpx.post(url, json=payload, timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        log.error("failure alert not delivered", url=url, error=str(exc), **payload)
