"""The analysts' map: the dbt docs site served by `dataplat docs --serve` over real HTTP, the
metric definitions inside it, and the lineage from every mart to the API endpoints and the
Airflow DAGs that read it (dbt exposures)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATAPLAT, free_port, run_cli
from tests.processes import check_ended

REPO = Path(__file__).resolve().parent.parent
API = REPO / "api"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("docs-parse") / "home"
    run_cli("dbt-manifest", env={"DATAPLAT_HOME": str(home)})
    return json.loads((home / "dbt-target" / "manifest.json").read_text())


def marts_the_api_reads() -> set[str]:
    """Every mart named in the API's SQL, and the per-mall and platform-wide series tables
    its routers read through api/series.py (`series(reader, "<kind>", "<grain>", ...)`)."""
    source = "\n".join(path.read_text() for path in API.rglob("*.py"))
    named = set(re.findall(r"marts\.([a-z_]+)\b", source))
    series = re.findall(r'series\(\s*reader,\s*"([a-z]+)",\s*"([a-z]+)"', source)
    assert series, "the series calls were not found: update this scan"
    named |= {f"{scope}_{kind}_{grain}" for kind, grain in series for scope in ("mall", "platform")}
    return named


def test_every_mart_the_api_reads_is_named_by_an_exposure(manifest: dict):
    exposed = {
        node.split(".")[-1]
        for exposure in manifest["exposures"].values()
        if exposure["name"].startswith("api_")
        for node in exposure["depends_on"]["nodes"]
    }
    read = marts_the_api_reads()
    assert {"platform_visitors_daily", "mall_orders_monthly", "segment_unused_coupons"} <= read
    assert read - exposed == set(), "marts the API reads that no exposure names"


def test_exposed_endpoints_exist_and_every_dag_is_an_exposure(manifest: dict):
    from api.main import create_app

    routes = {f"{method} {route.path}" for route in create_app().routes
              for method in getattr(route, "methods", ()) or ()}  # fmt: skip
    for exposure in manifest["exposures"].values():
        for endpoint in exposure["config"]["meta"].get("endpoints", []):
            assert endpoint in routes, f"{exposure['name']} names {endpoint}, not an API route"
    dags = set()
    for path in (REPO / "orchestration" / "dags").glob("*.py"):
        dags |= set(re.findall(r'"(dataplat_[a-z]+)"', path.read_text()))
    exposed = {e["name"].removeprefix("airflow_") for e in manifest["exposures"].values()}
    assert dags and dags <= exposed, dags - exposed


def test_metric_definitions_are_written_once_and_shown_on_every_mart(manifest: dict):
    docs = {name.split(".")[-1]: doc for name, doc in manifest["docs"].items()}
    visitors = docs["metric_visitors"]["block_contents"]
    for model in ("mall_visitors_daily", "platform_visitors_monthly", "mall_visitors_hourly"):
        column = manifest["nodes"][f"model.dataplat.{model}"]["columns"]["visitors"]
        assert column["description"] == visitors
    aov = manifest["nodes"]["model.dataplat.platform_orders_monthly"]["columns"]["aov"]
    assert "Null, not zero" in aov["description"]


def test_the_docs_site_is_served(pipeline_home: Path):
    """`dataplat docs --serve` generates the site on the embedded marts and serves it: the
    page, the manifest (with the exposures) and the catalog (with the marts' columns)."""
    port = free_port()
    log = pipeline_home / f"docs-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*DATAPLAT, "docs", "--serve", "--port", str(port)],
                                  env={**os.environ, "DATAPLAT_HOME": str(pipeline_home)},
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # docs generate reads every table first
        while True:
            check_ended(server, (None,), log.read_text(errors="replace"))
            try:
                index = httpx.get(f"{base}/index.html", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the docs site did not answer in 180 s\n{log.read_text()}")
                time.sleep(0.5)
        assert index.status_code == 200 and "dbt" in index.text
        assert f"docs site: {base}/" in log.read_text()  # loopback unless --host says otherwise
        manifest = httpx.get(f"{base}/manifest.json", timeout=10).json()
        assert "exposure.dataplat.api_visitors" in manifest["exposures"]
        catalog = httpx.get(f"{base}/catalog.json", timeout=10).json()
        columns = catalog["nodes"]["model.dataplat.mall_visitors_daily"]["columns"]
        assert {"visitors", "page_views", "sessions"} <= {c.lower() for c in columns}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    check_ended(server, (0, -signal.SIGTERM), log.read_text(errors="replace"))


def test_every_macro_is_documented_with_its_arguments(manifest: dict):
    """macros/_macros.yml describes each macro and each of its arguments (dialect
    implementations, default__ and duckdb__, are described by their dispatching macro)."""
    undocumented = []
    for macro in manifest["macros"].values():
        name = macro["name"]
        if macro["package_name"] != "dataplat" or name.startswith(("default__", "duckdb__")):
            continue
        signature = re.search(r"{%-?\s*(?:macro|test)\s+\w+\(([^)]*)\)", macro["macro_sql"])
        assert signature, name
        wanted = [a.split("=")[0].strip() for a in signature.group(1).split(",") if a.strip()]
        documented = [a["name"] for a in macro["arguments"] if a.get("description")]
        if not macro["description"] or documented != wanted:
            undocumented.append(f"{name}({', '.join(wanted)}): documented {documented}")
    assert not undocumented, undocumented


def test_models_rebuilt_by_day_or_month_are_partitioned_by_it(manifest: dict):
    """The strategies rebuild_days and rebuild_months delete the rebuilt days (months) by
    literal date: on Trino that drops whole partitions from Iceberg's metadata, if the table
    is partitioned by that column, and writes delete files for every read to merge if not."""
    period = {"rebuild_days": "date_kst", "rebuild_months": "month_kst"}
    found, wrong = 0, []
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        column = period.get(config.get("incremental_strategy"))
        if node["resource_type"] != "model" or column is None:
            continue
        found += 1
        partitioning = (config.get("properties") or {}).get("partitioning")
        if partitioning != f"ARRAY['{column}']":
            wanted = f"""properties={{'partitioning': "ARRAY['{column}']"}}"""
            wrong.append(f"{node['original_file_path']}: add {wanted} to its config")
    assert found >= 20 and not wrong, wrong
