"""Alerts to the company messenger's webhook: a task that fails for good, and a dbt test or
source freshness check that warns (the data-quality checks: the build goes on)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import structlog

from orchestration.settings import get_settings

log = structlog.get_logger("orchestration.alerts")

# How dbt reports a test's failing rows: "Got 3 results, configured to warn if != 0".
FAILING_ROWS = re.compile(r"\bGot (\d+) results?\b")
# How Cosmos reports the dbt nodes that failed, one "name: message" line each.
COSMOS_FAILURES = "dbt invocation completed with errors: "
FAILED_NODE = re.compile(r"^(\w+): (.*)$")


def dbt_finding(name: str, message: str) -> dict[str, Any]:
    """A dbt test or freshness check that warned or failed: its name, the number of failing
    rows when dbt gives one, and dbt's message."""
    rows = FAILING_ROWS.search(message)
    return {"test": name, "failing_rows": int(rows.group(1)) if rows else None, "message": message}


def findings_in_error(error: str) -> list[dict[str, Any]]:
    """The dbt nodes named in a Cosmos task's error, with their messages."""
    _, found, listed = error.partition(COSMOS_FAILURES)
    if not found:
        return []
    nodes: list[list[str]] = []
    for line in listed.splitlines():
        if match := FAILED_NODE.match(line):
            nodes.append([match.group(1), match.group(2)])
        elif nodes:  # a message of several lines
            nodes[-1][1] += "\n" + line
    return [dbt_finding(name, message) for name, message in nodes]


def dbt_node_of(task_id: str) -> str | None:
    """The dbt model or source a Cosmos task runs or tests: ``dbt_daily.<node>.test``."""
    parts = task_id.split(".")
    return parts[-2] if len(parts) >= 3 else None


def alert_payload(context: dict[str, Any], *, outcome: str = "failed") -> dict[str, Any]:
    ti = context["ti"]
    logical_date = context.get("logical_date")
    exception = context.get("exception")
    error = str(exception) if exception else None
    if outcome == "warned":
        names, messages = context.get("test_names", []), context.get("test_results", [])
        findings = [dbt_finding(n, m) for n, m in zip(names, messages, strict=False)]
    else:
        findings = findings_in_error(error or "")
    fields = {
        "outcome": outcome,
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "model": dbt_node_of(ti.task_id),
        "tests": findings,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "try_number": ti.try_number,
        "log_url": ti.log_url,
        "error": error,
    }
    # "text" is what Slack-style webhooks show; the fields let a bot route the alert.
    named = "; ".join(
        f"{f['test']}" + (f" ({f['failing_rows']} failing rows)" if f["failing_rows"] else "")
        for f in findings
    )
    text = (
        f"dataplat: {fields['dag_id']}.{fields['task_id']} {outcome}"
        + (f": {named}" if named else "")
        + f" (logical date {fields['logical_date']}, try {fields['try_number']}): "
        + f"{fields['log_url']}"
    )
    return {"text": text, **fields}


def _post(payload: dict[str, Any]) -> None:
    """Never raises, so a messenger outage cannot hide what happened."""
    url = get_settings().alert_webhook_url
    if not url:
        log.warning("no DATAPLAT_ALERT_WEBHOOK_URL to alert", **payload)
        return
    try:
        httpx.post(url, json=payload, timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        log.error("alert not delivered", url=url, error=str(exc), **payload)


def post_failure_alert(context: dict[str, Any]) -> None:
    """on_failure_callback of every task."""
    _post(alert_payload(context))


def post_warning_alert(context: dict[str, Any]) -> None:
    """Cosmos's on_warning_callback of dbt test and source freshness tasks: the context holds
    the names and messages of what warned (``test_names``, ``test_results``)."""
    _post(alert_payload(context, outcome="warned"))
