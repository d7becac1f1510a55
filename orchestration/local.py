"""`make airflow`: Airflow standalone (scheduler, API server, triggerer, DAG processor) on this
machine, reading the DAGs of orchestration/dags and the dataplat settings of the environment
(embedded by default: DATAPLAT_HOME=data). The UI listens on 127.0.0.1:8080
(AIRFLOW__API__HOST, AIRFLOW__API__PORT) and asks for the admin password standalone prints;
it shows the dbt docs site too (astronomer-cosmos's docs view, "dbt docs" in the menu).

    .venv/bin/python -m orchestration.local [--check]

--check prepares everything (manifest, docs, metadata database, pool) and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from lakehouse.settings import REPO_ROOT
from orchestration.settings import get_settings
from transform.build import dbt_target_dir  # where `dataplat docs` writes the site

AIRFLOW = [sys.executable, "-m", "airflow"]


# Cosmos reports every task run over the internet unless told not to: a scheduler has no
# business calling out, and where DNS is slow each try waits up to a second.
NO_TELEMETRY = {"AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}


def airflow_environment() -> dict[str, str]:
    settings = get_settings()
    home = Path(os.environ.get("AIRFLOW_HOME", settings.home / "airflow"))
    # Standalone starts its scheduler, API server and DAG processor as `airflow ...`
    # commands: the virtual environment's bin must be on the PATH, activated or not.
    bin_dir = str(Path(sys.executable).parent)
    host = os.environ.get("AIRFLOW__API__HOST", "127.0.0.1")
    port = os.environ.get("AIRFLOW__API__PORT", "8080")
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        # The UI and API on loopback only (standalone's default is every interface).
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": port,
        "AIRFLOW__API__BASE_URL": os.environ.get("AIRFLOW__API__BASE_URL", f"http://{host}:{port}"),
        # astronomer-cosmos serves the dbt docs site inside the UI from these files.
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": json.dumps(
            {"dataplat": {"dir": str(dbt_target_dir(settings)), "name": "dataplat"}}
        ),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "orchestration" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **NO_TELEMETRY,
        # The DAG files stay cheap to parse (Cosmos reads the manifest), but not free.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
    }


def prepare(env: dict[str, str]) -> None:
    settings = get_settings()
    steps = [
        # Cosmos renders the DAGs from dbt's manifest: parse once, not in every DAG file.
        [sys.executable, "-m", "dataplat.cli", "dbt-manifest"],
        # The docs site the UI shows (without column types until data is loaded).
        [sys.executable, "-m", "dataplat.cli", "docs"],
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
    ui, home = env["AIRFLOW__API__BASE_URL"], env["AIRFLOW_HOME"]
    print(f"Airflow UI: {ui} (user admin; its password is printed below and kept in {home}); "
          f"the dbt docs: {ui}/cosmos/dataplat/dbt_docs", flush=True)  # fmt: skip
    os.execvpe(AIRFLOW[0], [*AIRFLOW, "standalone"], env)


if __name__ == "__main__":
    main()
