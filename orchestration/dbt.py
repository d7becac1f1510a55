"""The dbt project as Cosmos task groups, and the steps around a build on each engine.

Groups are rendered from dbt's manifest (``dataplat dbt-manifest`` writes it), so parsing a
DAG file never runs dbt. Every model is a task followed by a task for its data tests (unit
tests run in CI); models are retried, tests and source freshness checks are not (a wrong
number does not fix itself).
"""

from __future__ import annotations

import gc
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SourceRenderingBehavior,
    TestBehavior,
)
from cosmos.operators.local import DbtSourceLocalOperator, DbtTestLocalOperator

from orchestration.alerts import post_warning_alert
from orchestration.settings import OrchestrationSettings
from transform.build import dbt_environment, dbt_manifest_path, dbt_target

KST = ZoneInfo("Asia/Seoul")
MODEL_RETRIES = 2
MODEL_RETRY_DELAY = timedelta(minutes=2)


def kst_day(moment: datetime) -> str:
    """The KST calendar day a moment falls on (used in templates: ``kst_day(...)``)."""
    return moment.astimezone(KST).date().isoformat()


def freeze_heap(context: Any) -> None:
    """Before a dbt task: hide the objects alive so far from Python's garbage collector
    (``gc.freeze``). Cosmos ends every dbt command with a full collection (releasing dbt's
    adapter semaphores); over the heap of Airflow, the DAG and dbt, some 850,000 objects,
    that took 0.5-0.8 s of a task's 1.4 s. Frozen, the collection looks at the command's
    own objects only."""
    gc.freeze()


def tests_reading_unselected_models(manifest: dict[str, Any], tag: str) -> list[str]:
    """Tests that read a model outside ``+tag:<tag>`` (the tagged models and their ancestors):
    another schedule builds that model, so the test belongs to that schedule's DAG (dbt's
    "cautious" indirect selection, decided when the DAG is rendered)."""
    nodes = manifest["nodes"]
    selected = {uid for uid, node in nodes.items() if tag in node.get("tags", [])}
    frontier = list(selected)
    while frontier:
        for parent in nodes.get(frontier.pop(), {}).get("depends_on", {}).get("nodes", []):
            if parent in nodes and parent not in selected:
                selected.add(parent)
                frontier.append(parent)
    excluded = []
    for node in nodes.values():
        if node["resource_type"] != "test":
            continue
        parents = node["depends_on"]["nodes"]
        models = [p for p in parents if nodes.get(p, {}).get("resource_type") == "model"]
        if any(p in selected for p in models) and not all(p in selected for p in models):
            excluded.append(node["name"])
    return sorted(excluded)


def dbt_task_group(
    group_id: str, tag: str, settings: OrchestrationSettings, dbt_vars: dict[str, Any] | None = None
) -> DbtTaskGroup:
    """The models tagged ``tag`` and all upstream of them, each followed by its tests, in
    dbt's dependency order; the raw sources' freshness is checked before the models. A test
    or freshness check that warns (the data-quality checks) alerts the webhook; the build
    goes on."""
    manifest = dbt_manifest_path(settings)
    if not manifest.exists():
        raise FileNotFoundError(
            f"no dbt manifest at {manifest}: run `dataplat dbt-manifest` (or `make airflow`)"
        )
    excluded = tests_reading_unselected_models(json.loads(manifest.read_text()), tag)
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=manifest,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="dataplat",
            target_name=dbt_target(settings),
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=[f"+tag:{tag}"],
            # dbt's unit tests check the SQL in CI (`dataplat transform --unit-tests`), not
            # the data in every scheduled run.
            exclude=[*excluded, "resource_type:unit_test"],
            test_behavior=TestBehavior.AFTER_EACH,
            source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
            # A test reading several models (the reconciliation) runs once all of them built.
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={
            "vars": dbt_vars or {},
            "env": dbt_environment(settings),
            "install_deps": False,
            # Each task is one dbt command on one model: dbt's JSON artifacts (manifest,
            # run results) would be rewritten by every task for nobody (failures and
            # warnings come from dbt's result object), a quarter of a task's time.
            "dbt_cmd_global_flags": ["--no-write-json"],
            # Cosmos's lineage assets for every model: the DAGs schedule on their own asset.
            "emit_datasets": False,
            # DuckDB has one writer: the embedded pool has one slot (see `make airflow`).
            "pool": settings.airflow_dbt_pool,
            "pre_execute": freeze_heap,
        },
        default_args={"retries": MODEL_RETRIES, "retry_delay": MODEL_RETRY_DELAY},
        on_warning_callback=post_warning_alert,
    )
    for task in group.iter_tasks():
        if isinstance(task, DbtTestLocalOperator | DbtSourceLocalOperator):
            task.retries = 0
    return group
