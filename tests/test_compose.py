"""docker-compose.yml cannot run here (no Docker engine), so what keeps it honest is checked
statically: it mounts the very Trino files `make platform-up` starts Trino with, sets every
${ENV:...} value those files read, as infra/platform.py does, and names only real settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import AliasChoices

from api.settings import ApiSettings
from infra import platform
from lakehouse.settings import MaintenanceSettings
from loader.settings import LoaderSettings
from orchestration.settings import OrchestrationSettings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
TRINO_CONF = REPO / "infra" / "conf" / "trino"


def placeholders(path: Path) -> set[str]:
    return set(re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", path.read_text()))


def trino_mounts() -> dict[Path, str]:
    """Host file -> container path of the Trino service's bind mounts."""
    mounts = {}
    for volume in COMPOSE["services"]["trino"]["volumes"]:
        host, container, *_ = volume.split(":")
        mounts[(REPO / host).resolve()] = container
    return mounts


def test_compose_trino_mounts_every_file_the_native_trino_reads():
    native = {TRINO_CONF / "config.properties", TRINO_CONF / "jvm.config",
              *(TRINO_CONF / "catalog").glob("*.properties"), *TRINO_CONF.glob("*.properties"),
              TRINO_CONF / "rules.json"}  # fmt: skip
    mounts = trino_mounts()
    assert native <= set(mounts), f"not mounted in docker-compose.yml: {native - set(mounts)}"
    assert mounts[TRINO_CONF / "catalog" / "iceberg.properties"] == (
        "/etc/trino/catalog/iceberg.properties"
    )


def test_both_launchers_set_every_value_the_trino_files_read():
    configuration = [path for path in trino_mounts() if path.is_relative_to(TRINO_CONF)]
    needed = set().union(*(placeholders(path) for path in configuration))
    assert {"PG_HOST", "PG_PASSWORD", "WAREHOUSE_URI", "S3_ENDPOINT", "TRINO_PASSWORD_FILE",
            "TRINO_SHARED_SECRET"} <= needed  # fmt: skip
    compose_env = set(COMPOSE["services"]["trino"]["environment"])
    native_env = set(platform.trino_environment("file:///tmp/warehouse"))
    assert needed <= compose_env, f"docker-compose.yml lacks {needed - compose_env}"
    assert needed <= native_env, f"infra/platform.py lacks {needed - native_env}"


def _catalog_settings(name: str) -> dict[str, str]:
    lines = (TRINO_CONF / "catalog" / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_readers_catalog_is_the_writers_catalog_with_a_read_only_connector():
    """The API and the analysts read through iceberg_readonly: the same Iceberg tables (every
    connection setting equal), a connector that refuses writes and table procedures, and no
    setting of the writers' catalog left out but its procedure guards."""
    writers = _catalog_settings("iceberg.properties")
    readers = _catalog_settings("iceberg_readonly.properties")
    assert readers.pop("iceberg.security") == "read_only"
    guards = {key for key in writers if key.endswith(".min-retention")}
    assert guards and {k: v for k, v in writers.items() if k not in guards} == readers
    assert ApiSettings().trino_catalog == "iceberg_readonly"


def test_compose_names_only_real_settings_and_the_catalog_trino_uses():
    shared = COMPOSE["x-dataplat-env"]
    components = (ApiSettings, LoaderSettings, MaintenanceSettings, OrchestrationSettings)
    fields = {f"DATAPLAT_{name.upper()}" for c in components for name in c.model_fields}
    fields |= {  # a job's own variables (its Trino principal: DATAPLAT_TRINO_API_PASSWORD)
        choice.upper() for c in components for f in c.model_fields.values()
        if isinstance(f.validation_alias, AliasChoices)
        for choice in f.validation_alias.choices if isinstance(choice, str)
    }  # fmt: skip
    catalog = (TRINO_CONF / "catalog" / "iceberg.properties").read_text()
    assert f"iceberg.jdbc-catalog.catalog-name={shared['DATAPLAT_CATALOG_NAME']}" in catalog
    for service in ("loader", "api", "transform"):
        env = COMPOSE["services"][service]["environment"]
        assert shared.items() <= env.items(), f"{service} lost the shared settings"
        unknown = {key for key in env if key.startswith("DATAPLAT_")} - fields
        assert not unknown, f"{service} sets no such settings: {unknown}"


def test_compose_kafka_grants_what_the_platform_script_grants():
    """The broker authenticates everyone and authorizes by ACL in both launchers; the
    one-shot grants name the contract topics and the loader's group, as kafka_acls() does."""
    from lakehouse.tables import ALL_TOPICS

    kafka = COMPOSE["services"]["kafka"]["environment"]
    native = (REPO / "infra" / "conf" / "kafka" / "server.properties").read_text()
    assert "PLAINTEXT:PLAINTEXT" not in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert "PLAINTEXT:PLAINTEXT" not in native
    for name, value in (("KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "false"),
                        ("KAFKA_SUPER_USERS", "User:admin"),
                        ("KAFKA_SASL_ENABLED_MECHANISMS", platform.KAFKA_SCRAM)):  # fmt: skip
        assert kafka[name] == value
        assert f"{name.removeprefix('KAFKA_').lower().replace('_', '.')}={value}" in native
    grants = COMPOSE["services"]["kafka-grants"]
    assert grants["environment"]["CONTRACT_TOPICS"].split() == list(ALL_TOPICS)
    script = grants["command"][0]
    acls = platform.kafka_acls()
    assert {a.name for a in acls if a.restype.name == "TOPIC"} == set(ALL_TOPICS)
    assert f"--group {platform.KAFKA_LOADER_GROUP} --resource-pattern-type prefixed" in script
    loader = COMPOSE["services"]["loader"]
    assert "DATAPLAT_KAFKA_LOADER_PASSWORD" in loader["environment"]
    assert loader["depends_on"]["kafka-grants"]["condition"] == "service_completed_successfully"


def test_compose_trino_reads_its_secrets_as_its_own_user():
    """The 0600 files `make credentials` writes belong to whoever ran it; Trino's image runs
    as uid 1000, so a one-shot copies them into a volume owned by that uid before Trino
    starts, and Trino mounts that volume, not the host folder."""
    services = COMPOSE["services"]
    trino = services["trino"]
    assert "trino-secrets:/etc/trino/secrets:ro" in trino["volumes"]
    assert trino["depends_on"]["trino-secrets"]["condition"] == "service_completed_successfully"
    copier = services["trino-secrets"]
    script = copier["command"][0]
    assert "./.cache/platform-run/secrets/trino:/from:ro" in copier["volumes"]
    assert "chown -R 1000:1000 /to" in script and "chmod 0600" in script
    for variable in ("TRINO_KEYSTORE", "TRINO_PASSWORD_FILE", "TRINO_GROUP_FILE"):
        name = Path(trino["environment"][variable]).name
        assert f"/from/{name}" in script, f"{name} is not copied for Trino"


def test_compose_publishes_every_port_on_loopback_only():
    """With the defaults, no container port is reachable from another machine: each one is
    published on 127.0.0.1 (the API's address is a variable that defaults to it)."""
    published = {name for name, service in COMPOSE["services"].items() if service.get("ports")}
    assert {"postgres", "kafka", "minio", "trino", "api"} <= published
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            address = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", port).rsplit(":", 2)[0]
            assert address == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_compose_prometheus_scrapes_the_api_and_the_loader_where_they_serve():
    config = yaml.safe_load((REPO / "infra" / "conf" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"])
               for job in config["scrape_configs"]}  # fmt: skip
    services = COMPOSE["services"]
    api_port = services["api"]["environment"]["DATAPLAT_API_PORT"]
    loader = services["loader"]["environment"]
    assert targets["dataplat-api"] == ("/metrics", [f"api:{api_port}"])
    assert targets["dataplat-loader"] == (
        "/metrics",
        [f"loader:{loader['DATAPLAT_LOADER_METRICS_PORT']}"],
    )
    assert loader["DATAPLAT_LOADER_METRICS_HOST"] == "0.0.0.0"  # the compose network, no host port
    assert "ports" not in services["loader"]
    mounts = [v.split(":")[:2] for v in services["prometheus"]["volumes"]]
    assert ["./infra/conf/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml"] in mounts
