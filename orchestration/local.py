"""`make airflow`: Airflow standalone (scheduler, API server, triggerer, DAG processor) on this
machine, reading the DAGs of orchestration/dags and the dataplat settings of the environment
(embedded by default: DATAPLAT_HOME=data).

    .venv/bin/python -m orchestration.local [--check]

--check prepares everything (manifest, metadata database, pool) and exits: what CI can run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from lakehouse.settings import REPO_ROOT
from orchestration.settings import get_settings

AIRFLOW = [sys.executable, "-m", "airflow"]


def airflow_environment() -> dict[str, str]:
    settings = get_settings()
    home = Path(os.environ.get("AIRFLOW_HOME", settings.home / "airflow"))
    # Standalone starts its scheduler, API server and DAG processor as `airflow ...`
    # commands: the virtual environment's bin must be on the PATH, activated or not.
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "orchestration" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The DAG files stay cheap to parse (Cosmos reads the manifest), but not free.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
    }


def prepare(env: dict[str, str]) -> None:
    settings = get_settings()
    steps = [
        # Cosmos renders the DAGs from dbt's manifest: parse once, not in every DAG file.
        [sys.executable, "-m", "dataplat.cli", "dbt-manifest"],
        [*AIRFLOW, "db", "migrate"],
        # DuckDB has one writer: one slot embedded; Trino takes several builds at once.
        [*AIRFLOW, "pools", "set", settings.airflow_dbt_pool,
         "1" if settings.engine == "duckdb" else "4", "dbt builds of dataplat"],
    ]  # fmt: skip
    for step in steps:
        print("+", " ".join(step[2:] if step[0] == sys.executable else step), flush=True)
        subprocess.run(step, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="prepare, then exit")
    args = parser.parse_args()
    env = airflow_environment()
    prepare(env)
    if args.check:
        return
    print(f"Airflow UI: http://localhost:8080 (credentials in {env['AIRFLOW_HOME']})", flush=True)
    os.execvpe(AIRFLOW[0], [*AIRFLOW, "standalone"], env)


if __name__ == "__main__":
    main()
