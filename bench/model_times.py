"""Where a transform's time goes: per-model seconds from dbt's run_results.json, and the
Iceberg snapshots each incremental model's table gains in a run (bench/engines.py).

dbt writes target/run_results.json beside the manifest (transform.build.dbt_manifest_path)
at the end of every command: read it right after the `dataplat transform` it describes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from rich.table import Table

from bench.common import console
from lakehouse.catalog import open_catalog
from transform.build import dbt_manifest_path
from transform.settings import TransformSettings


def run_results(settings: TransformSettings) -> dict:
    """dbt's run_results.json of the last dbt command on the project."""
    return json.loads((dbt_manifest_path(settings).parent / "run_results.json").read_text())


def node_seconds(results: dict, kind: str = "model") -> dict[str, float]:
    """Execution seconds per node name of one kind (model, test, unit_test)."""
    return {
        done["unique_id"].split(".", 2)[-1]: float(done["execution_time"])
        for done in results["results"]
        if done["unique_id"].split(".", 1)[0] == kind
    }


def incremental_tables(settings: TransformSettings) -> list[str]:
    """``schema.table`` of every incremental model, from dbt's manifest."""
    manifest = json.loads(dbt_manifest_path(settings).read_text())
    return sorted(
        f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


def snapshot_summaries(settings: TransformSettings, tables: list[str]) -> dict[str, list[dict]]:
    """Each table's Iceberg snapshot summaries, oldest first."""
    catalog = open_catalog(settings)
    return {
        name: [
            snapshot.summary.model_dump()
            for snapshot in sorted(
                catalog.load_table(name).snapshots(), key=lambda s: s.sequence_number or 0
            )
        ]
        for name in tables
    }


def print_model_times(
    title: str,
    seconds: dict[str, dict[str, float]],
    sort_by: str,
    top: int = 15,
    extra: dict[str, dict[str, float]] | None = None,
) -> None:
    """One column per engine (label → model → seconds), the slowest `top` by `sort_by`; extra
    rows (tests, unit_tests, dbt: label → seconds) under the totals."""
    engines = list(seconds)
    table = Table(title=title)
    table.add_column("model")
    for engine in engines:
        table.add_column(f"{engine} s", justify="right")
    if len(engines) == 2:
        table.add_column("ratio", justify="right")
    models = sorted(seconds[sort_by], key=seconds[sort_by].__getitem__, reverse=True)

    def row(name: str, values: list[float | None]) -> list[str]:
        cells = [name, *("" if v is None else f"{v:,.2f}" for v in values)]
        if len(values) == 2:
            a, b = values
            cells.append(f"{b / a:,.1f}x" if a and b is not None else "")
        return cells

    for name in models[:top]:
        table.add_row(*row(name, [seconds[e].get(name) for e in engines]))
    if len(models) > top:
        rest = models[top:]
        totals = [sum(seconds[e].get(m, 0.0) for m in rest) for e in engines]
        table.add_row(*row(f"({len(rest)} more)", totals))
    table.add_section()
    table.add_row(*row(f"all {len(models)} models", [sum(seconds[e].values()) for e in engines]))
    for kind, label in (("tests", "data tests"), ("unit_tests", "unit tests")):
        if kind in (extra or {}):
            table.add_row(*row(label, [extra[kind].get(e) for e in engines]))
    if "dbt" in (extra or {}):
        table.add_row(*row("dbt elapsed (threads overlap)", [extra["dbt"].get(e) for e in engines]))
    console.print(table)


def print_snapshots(
    before: dict[str, list[dict]], after: dict[str, list[dict]], run: str = "the incremental run"
) -> None:
    """Snapshots each table gained between two snapshot_summaries, with the data files they
    dropped whole and the delete files (rows to merge on read) they wrote."""
    table = Table(title=f"Iceberg snapshots each incremental model gained in {run}")
    for column in ("table", "before", "after", "gained", "data files dropped", "delete files"):
        table.add_column(column, justify="left" if column == "table" else "right")

    def total(summaries: list[dict], key: str) -> int:
        return sum(int(summary.get(key) or 0) for summary in summaries)

    for name in sorted(before):
        gained = after[name][len(before[name]) :]
        table.add_row(
            name,
            str(len(before[name])),
            str(len(after[name])),
            str(len(gained)),
            str(total(gained, "deleted-data-files")),
            str(total(gained, "added-delete-files")),
        )
    console.print(table)


STATEMENT = re.compile(r"\[(?P<thread>[^\]]+)\]: On (?P<node>[\w.-]+): (?P<sql>.*)")
STATUS = re.compile(r"\[(?P<thread>[^\]]+)\]: SQL status: (?P<status>.*?) in (?P<s>[\d.]+) seconds")
INVOCATION = "Running with dbt="


def statement_seconds(log: str, invocation: int = -1) -> dict[tuple[str, str], list[float]]:
    """Count and seconds of the SQL statements of one dbt invocation in a dbt.log (-1: the
    last, 0: the first), by
    (node kind, statement kind): Trino's status (CREATE TABLE, DELETE, INSERT, COMMENT, ...;
    SUCCESS is a query) and, for queries, the statement's first word (select, describe...)."""
    current: dict[str, tuple[str, str]] = {}
    totals: dict[tuple[str, str], list[float]] = {}
    for line in log.split(INVOCATION)[1:][invocation].splitlines():
        if started := STATEMENT.search(line):
            words = re.sub(r"^/\*.*?\*/", "", started["sql"]).split()  # dbt's query comment
            first = words[0].lower() if words else ""
            current[started["thread"]] = (started["node"].split(".", 1)[0], first)
        elif done := STATUS.search(line):
            kind, first = current.get(done["thread"], ("?", ""))
            status = re.sub(r" \([\d_]+ rows?\)", "", done["status"])
            key = (kind, status if status != "SUCCESS" else f"query ({first or 'select'})")
            count, seconds = totals.setdefault(key, [0, 0.0])
            totals[key] = [count + 1, seconds + float(done["s"])]
    return totals


def print_statements(title: str, totals: dict[tuple[str, str], list[float]]) -> None:
    table = Table(title=title)
    for column in ("node kind", "statement", "count", "seconds"):
        table.add_column(column, justify="left" if column != "count" else "right")
    for (kind, statement), (count, seconds) in sorted(totals.items(), key=lambda i: -i[1][1]):
        table.add_row(kind, statement, f"{count:,.0f}", f"{seconds:,.1f}")
    console.print(table)


if __name__ == "__main__":
    # python -m bench.model_times LOG: the statements of each dbt invocation in a dbt.log
    log = Path(sys.argv[1]).read_text()
    for i in range(log.count(INVOCATION)):
        print_statements(f"dbt invocation {i + 1}", statement_seconds(log, i))
