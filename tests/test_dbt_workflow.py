"""dbt_project/README.md's analyst workflow, run as written: the SQL edit it shows applied to a
copy of the project, then every command of its shell block (preview, build, test, style),
against a copy of the embedded pipeline's DuckDB build. The new column must be previewed,
built with the values it promises, and tested."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
README = REPO / "dbt_project" / "README.md"
MODEL = Path("models/marts/visitors/mall_visitors_daily.sql")


def workflow() -> tuple[str, str, list[str]]:
    """(the line the README adds after, the line it adds, the shell commands)."""
    section = README.read_text().split("## An analyst's workflow")[1].split("\n## ")[0]
    sql = re.search(r"```sql\n(.*?)```", section, re.S).group(1)
    anchor, added = (line.strip() for line in sql.strip().splitlines())
    shell = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = re.sub(r"\\\n\s*", " ", shell)  # continuation lines
    commands = [line.strip() for line in joined.splitlines()]
    return anchor, added, [c for c in commands if c and not c.startswith("#")]


def analysts_copy(pipeline_home: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An analyst's checkout of the dbt project and a copy of the embedded pipeline's DuckDB
    build: (project directory, build file), both free to change."""
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    build = tmp_path / "build.duckdb"
    shutil.copyfile(pipeline_home / "duckdb" / "build.duckdb", build)
    return project, build


def test_the_analysts_workflow_runs_as_written(pipeline_home: Path, tmp_path: Path):
    anchor, added, commands = workflow()
    assert [c.split()[0] for c in commands] == ["export", ".venv/bin/dbt", ".venv/bin/dbt",
                                                ".venv/bin/dbt", "make"]  # fmt: skip
    project, build = analysts_copy(pipeline_home, tmp_path)
    model = project / MODEL
    text = model.read_text()
    assert text.count(anchor) == 1, f"{MODEL} no longer has the line the README edits after"
    model.write_text(text.replace(anchor, f"{anchor}\n    {added}"))

    env = {**os.environ}
    for command in commands:
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            assert (name, value) == ("DATAPLAT_DUCKDB_PATH", "data/duckdb/build.duckdb")
            env[name] = str(build)  # `make demo`'s build, here the pipeline's copy
            continue
        args = [str(project) if arg == "dbt_project" else arg for arg in shlex.split(command)]
        if args[0] == "make":
            args = [*args, "--no-print-directory"]  # the repository's own project
        result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=900)  # fmt: skip
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        if " show " in f" {command} ":
            # the preview table, its headers cut at 20 characters: the new column after hits
            assert re.search(r"\| hits \| page_views_per_vi", result.stdout), result.stdout[-2000:]

    with duckdb.connect(str(build), read_only=True) as con:
        rows = con.execute(
            "select page_views, visitors, page_views_per_visitor from marts.mall_visitors_daily"
        ).fetchall()
    assert rows and all(abs(ratio - views / visitors) < 1e-9 for views, visitors, ratio in rows)


def test_a_model_on_the_rebuild_days_strategy_must_state_its_days(
    pipeline_home: Path, tmp_path: Path
):
    """An analyst's new incremental model on the project's strategy rebuild_days whose SQL
    states no days (no rebuild_days_ctes()): its incremental run fails and names the fix,
    instead of deleting nothing and inserting duplicates."""
    project, build = analysts_copy(pipeline_home, tmp_path)
    (project / "models" / "marts" / "visitors" / "daily_hits_sketch.sql").write_text(
        "{{ config(materialized='incremental', incremental_strategy='rebuild_days') }}\n"
        "select date_kst, count(*) as hits\n"
        "from {{ ref('stg_weblog__events') }}\n"
        "group by date_kst\n"
    )
    env = {**os.environ, "DATAPLAT_DUCKDB_PATH": str(build)}
    command = [str(REPO / ".venv" / "bin" / "dbt"), "run", "--project-dir", str(project),
               "--profiles-dir", str(project), "--select", "daily_hits_sketch"]  # fmt: skip

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip

    first = run()  # a new table: not incremental yet
    assert first.returncode == 0, first.stdout[-3000:]
    second = run()
    assert second.returncode != 0, "the incremental run of a model stating no days passed"
    assert "does not state the days it rebuilds" in second.stdout, second.stdout[-3000:]
    assert "rebuild_days_ctes()" in second.stdout
    with duckdb.connect(str(build), read_only=True) as con:
        (days, rows) = con.execute(
            "select count(distinct date_kst), count(*) from marts.daily_hits_sketch"
        ).fetchone()
    assert rows == days > 0  # the first build's rows, one per day, untouched
