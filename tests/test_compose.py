"""docker-compose.yml cannot run here (no Docker engine), so what keeps it honest is checked
statically: it mounts the very Trino files `make platform-up` starts Trino with, sets every
${ENV:...} value those files read, as infra/platform.py does, and names only real settings;
its shop database runs with the server flags, schema and grants of infra/shop_database.py,
its Kafka grants are kafka_acls()'s, and its Connect worker fills in the repository's Debezium
templates as infra/debezium.py does (that one shell function is run, on the real templates)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
from pathlib import Path
from string import Template

import yaml
from pydantic import AliasChoices

from api.settings import ApiSettings
from infra import debezium, platform, shop_database
from infra.credentials import KAFKA_USERS, MARIADB_USERS
from lakehouse.settings import MaintenanceSettings
from lakehouse.tables import CDC_PARTITIONS
from loader.settings import LoaderSettings
from orchestration.settings import OrchestrationSettings
from sampledata.shop_simulator import ShopDatabaseSettings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
TRINO_CONF = REPO / "infra" / "conf" / "trino"
DEBEZIUM_TEMPLATES = (
    REPO / "infra" / "conf" / "debezium" / "worker.properties",
    REPO / "infra" / "conf" / "debezium" / "shop-cdc.properties",
)
# Flags of shop_database.server_args that the mariadb container leaves out, and why.
NATIVE_ONLY_MARIADB_FLAGS = {
    "--no-defaults": "the image's own config files set the data folder and the socket",
    "--user=root": "the image's entrypoint runs the server as its user mysql",
    "--bind-address=127.0.0.1": "the other containers connect over the compose network; the "
    "host port is published on loopback",
}


def placeholders(path: Path) -> set[str]:
    return set(re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", path.read_text()))


def shell(text: str) -> str:
    """A command or inline file as the container's shell reads it: Compose turns $$ into $,
    and would take a single $ for one of its own variables."""
    assert "$" not in text.replace("$$", ""), f"a single $ (a Compose variable) in:\n{text}"
    return text.replace("$$", "$")


def bind_mounts(service: str) -> dict[Path, str]:
    """Host file or folder -> container path of a service's bind mounts."""
    mounts = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            mounts[(REPO / host).resolve()] = container
    return mounts


def join_lines(script: str) -> str:
    """A shell script with its continued lines (a backslash at the end) joined."""
    return re.sub(r"\s*\\\n\s*", " ", script)


def credential(kind: str, user: str) -> str:
    """How the compose file reads a principal's password from `make credentials`' file."""
    return f"${{DATAPLAT_{kind}_{user.upper()}_PASSWORD:?run make credentials}}"


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
    assert {"postgres", "kafka", "minio", "trino", "api", "mariadb", "connect"} <= published
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


def _kafka_grants_script() -> tuple[list[str], dict[str, str]]:
    """kafka-grants' script, one command a line (continuations joined), and its environment."""
    service = COMPOSE["services"]["kafka-grants"]
    script = join_lines(shell(service["command"][0]))
    return [line.strip() for line in script.splitlines()], service["environment"]


def _kafka_grants_commands(tool: str):
    """(command, names it applies to) of each call of a Kafka tool in kafka-grants, a call in
    a `for topic in $LIST` loop applying to every topic of that variable."""
    lines, environment = _kafka_grants_script()
    loop = None
    for line in lines:
        if found := re.fullmatch(r"for topic in \$(\w+); do", line):
            loop = environment[found[1]].split()
        elif line == "done":
            loop = None
        elif f"/opt/kafka/bin/{tool}" in line:
            yield line, loop


def _compose_kafka_acls() -> set[tuple[str, str, str, str, str]]:
    """(principal, resource type, name, pattern type, operation) of every ACL kafka-grants adds."""
    acls = set()
    for command, loop in _kafka_grants_commands("kafka-acls.sh"):
        assert "--add --allow-principal" in command
        principal = re.search(r"--allow-principal (\S+)", command)[1]
        kind, name = re.search(r"--(topic|group) (\S+)", command).groups()
        names = loop if name == '"$topic"' else [name]
        assert names, f"{command}: $topic outside a loop"
        pattern = re.search(r"--resource-pattern-type (\w+)", command)
        pattern = pattern[1].upper() if pattern else "LITERAL"
        for operation in re.findall(r"--operation (\w+)", command):
            acls |= {(principal, kind.upper(), n, pattern, operation.upper()) for n in names}
    return acls


def test_compose_kafka_grants_exactly_the_acls_and_principals_of_the_platform_script():
    """Every ACL kafka_acls() creates, and no other; Debezium's principal writes and
    describes the shop topics only; every principal but the admin gets its SCRAM credentials
    from its own variable of `make credentials`."""
    from lakehouse.tables import CDC_TOPICS

    native = {(a.principal, a.restype.name, a.name, a.resource_pattern_type.name,
               a.operation.name) for a in platform.kafka_acls()}  # fmt: skip
    compose = _compose_kafka_acls()
    assert compose == native, f"compose only: {compose - native}; native only: {native - compose}"
    debezium_acls = {(topic, op) for who, _, topic, _, op in compose if who == "User:debezium"}
    assert debezium_acls == {(t, op) for t in CDC_TOPICS for op in ("WRITE", "DESCRIBE")}
    lines, environment = _kafka_grants_script()
    script = "\n".join(lines)
    for user in KAFKA_USERS:
        if user == "admin":  # formatted into the storage by kafka-format
            continue
        variable = f"{user.upper()}_PASSWORD"
        assert environment[variable] == credential("KAFKA", user)
        scram = f"{platform.KAFKA_SCRAM}=[iterations=8192,password=${variable}]"
        assert f'--entity-name {user} --add-config "{scram}"' in script


def test_compose_kafka_grants_creates_the_shop_topics_as_infra_debezium_does():
    """Only the admin creates topics (the broker creates none by itself, and the Connect
    worker may not): the shop topics, with ensure_cdc_topics()'s partition count."""
    from lakehouse.tables import CDC_TOPICS

    _, environment = _kafka_grants_script()
    assert environment["CDC_TOPICS"].split() == list(CDC_TOPICS)
    assert int(environment["CDC_PARTITIONS"]) == CDC_PARTITIONS
    created = list(_kafka_grants_commands("kafka-topics.sh"))
    assert len(created) == 1
    command, topics = created[0]
    assert topics == list(CDC_TOPICS)
    assert '--create --if-not-exists --topic "$topic"' in command
    assert '--partitions "$CDC_PARTITIONS" --replication-factor 1' in command
    # No retention, as the platform script and `dataplat publish` make the contract topics.
    from lakehouse.tables import CONTRACT_TOPIC_CONFIG

    for name, value in CONTRACT_TOPIC_CONFIG.items():
        assert f"--config {name}={value}" in command
    connect = COMPOSE["services"]["connect"]["depends_on"]
    assert connect["kafka-grants"]["condition"] == "service_completed_successfully"


def test_compose_mariadb_runs_with_the_server_flags_of_the_platform_script():
    """Every fixed flag of shop_database.server_args (the ROW binlog Debezium reads, the
    server id, strict SQL, UTC, utf8mb4...) but those that do not apply in a container, and
    the MySQL 5.7.19 version string with the image's MariaDB version; nothing else."""
    source = inspect.getsource(shop_database.server_args)
    native = set(re.findall(r'(?<![\w"])"(--[^"{}]+)"', source))  # not the f-strings
    assert {"--log-bin=mysql-bin", "--binlog-format=ROW", "--binlog-row-image=FULL",
            "--server-id=1", "--default-time-zone=+00:00"} <= native  # fmt: skip
    assert set(NATIVE_ONLY_MARIADB_FLAGS) <= native, "a flag left out is no longer native"
    prefix = re.search(r'f"--version=(5\.7\.19-)\{_real_version\(root\)\}"', source)
    assert prefix, "server_args no longer reports MySQL 5.7.19 (see its module docstring)"
    service = COMPOSE["services"]["mariadb"]
    image, tag = service["image"].split(":")
    assert (image, tag) == ("mariadb", "10.11")
    version = f"--version={prefix[1]}{tag}"  # never the word MariaDB (server_args says why)
    assert set(service["command"]) == (native - set(NATIVE_ONLY_MARIADB_FLAGS)) | {version}
    assert len(service["command"]) == len(set(service["command"]))


def test_compose_mariadb_creates_the_schema_and_principals_of_the_platform_script():
    """At its first start: database `shop`, the contract's schema file, then each principal
    with its own password and exactly shop_database.GRANTS; root ends up bound to the socket
    (no password logs it in), as infra/shop_database.py makes it."""
    service = COMPOSE["services"]["mariadb"]
    environment = service["environment"]
    initdb = "/docker-entrypoint-initdb.d/"
    mounts = bind_mounts("mariadb")
    assert mounts[shop_database.SCHEMA].startswith(initdb)
    assert environment["MARIADB_DATABASE"] == shop_database.DATABASE  # the .sql files run in it
    (config,) = service["configs"]
    # Sourced (not executable), after the schema (file names in order).
    assert config["target"].startswith(initdb) and config["target"].endswith(".sh")
    assert config["mode"] == 0o444
    assert sorted([*mounts.values(), config["target"]])[-1] == config["target"]
    script = shell(COMPOSE["configs"][config["source"]]["content"])
    assert script.count("docker_process_sql <<EOSQL\nSET @@SESSION.SQL_LOG_BIN=0;\n") == 1
    for user in MARIADB_USERS:
        variable = user.upper()
        assert environment[f"{variable}_PASSWORD"] == credential("MARIADB", user)
        assert environment[f"{variable}_GRANTS"] == shop_database.GRANTS[user]
        assert (f'{user}_password=$(docker_sql_escape_string_literal "${variable}_PASSWORD")'
                in script)  # fmt: skip
        assert f"CREATE USER '{user}'@'%' IDENTIFIED BY '${user}_password';" in script
        assert f"GRANT ${variable}_GRANTS TO '{user}'@'%';" in script
    assert set(re.findall(r"CREATE USER '(\w+)'", script)) == set(MARIADB_USERS)
    assert set(re.findall(r"GRANT \$(\w+)_GRANTS", script)) == {u.upper() for u in MARIADB_USERS}
    assert "MARIADB_ROOT_PASSWORD" not in environment
    assert environment["MARIADB_RANDOM_ROOT_PASSWORD"] and environment["MARIADB_ROOT_HOST"] == (
        "localhost"
    )
    root = "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;"
    assert script.rstrip().splitlines()[-3:-1] == [root, "EOSQL"]  # the last statement
    assert service["healthcheck"]["test"] == [
        "CMD", "healthcheck.sh", "--connect", "--innodb_initialized"
    ]  # fmt: skip
    # `dataplat simulate-shop` on the host reaches it with its defaults.
    simulator = ShopDatabaseSettings.model_fields
    assert service["ports"] == [f"127.0.0.1:{simulator['shop_db_port'].default}:3306"]
    assert simulator["shop_db_name"].default == shop_database.DATABASE


def _connect_script() -> str:
    return shell(COMPOSE["services"]["connect"]["command"][0])


def _template_names(path: Path) -> set[str]:
    """The $NAME placeholders of a template ($$ is a literal dollar sign)."""
    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", path.read_text().replace("$$", "")))


def _properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_connect_fills_in_every_placeholder_of_the_repositorys_templates():
    """The worker's and the connector's templates are the repository's files, mounted, and
    rendered at start; every $NAME in them (those infra/debezium.py fills in) has a value,
    from the service's environment or the entrypoint; the worker runs the rendered files."""
    service = COMPOSE["services"]["connect"]
    script = _connect_script()
    mounts = bind_mounts("connect")
    assert all(volume.endswith(":ro") for volume in service["volumes"] if volume.startswith("."))
    rendered = []
    for template in DEBEZIUM_TEMPLATES:
        assert template in mounts, f"{template} is not mounted"
        found = re.search(rf"^render {re.escape(mounts[template])} (/tmp/connect/\S+)$", script,
                          re.MULTILINE)  # fmt: skip
        assert found, f"{template.name} is mounted but not rendered"
        rendered.append(found[1])
    native = set(re.findall(r'"([A-Z_]+)":', inspect.getsource(debezium._write_configs)))
    names = set().union(*(_template_names(t) for t in DEBEZIUM_TEMPLATES))
    assert {"KAFKA_JAAS", "DEBEZIUM_DB_PASSWORD", "WORK", "PLUGIN_PATH", "OFFSET_FLUSH_MS"} <= names
    assert names == native, "the templates and infra/debezium.py disagree"
    exported = set(re.findall(r"^export (\w+)=", script, re.MULTILINE))
    missing = names - set(service["environment"]) - exported
    assert not missing, f"the connect service gives no value to {missing}"
    joined = join_lines(script)
    assert f"exec /opt/kafka/bin/connect-standalone.sh {' '.join(rendered)}" in joined


def test_compose_connect_renders_a_template_as_python_string_template_does(tmp_path):
    """The entrypoint's render function, run with bash and awk on the real templates, writes
    what string.Template.substitute (infra/debezium.py) writes, values with $, quotes,
    backslashes and & included; a name without a value is an error, not an empty value."""
    script = _connect_script()
    render = re.search(r"^render\(\) \{\n.*?^\}\n", script, re.MULTILINE | re.DOTALL)[0]
    names = set().union(*(_template_names(t) for t in DEBEZIUM_TEMPLATES))
    values = {name: f'{name.lower()} "q" \\ & $WORK $$ end' for name in names}

    def run(template: Path, out: Path, environment: dict[str, str]):
        return subprocess.run(["bash", "-ec", f'{render}render "$1" "$2"', "render",
                               str(template), str(out)],
                              env={"PATH": os.environ["PATH"], **environment},
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    for template in DEBEZIUM_TEMPLATES:
        out = tmp_path / template.name
        result = run(template, out, values)
        assert result.returncode == 0, result.stderr
        assert out.read_text() == Template(template.read_text()).substitute(values)
    connector = (tmp_path / "shop-cdc.properties").read_text()
    assert "transforms.route.replacement=shop.$1\n" in connector
    incomplete = {k: v for k, v in values.items() if k != "DEBEZIUM_DB_PASSWORD"}
    result = run(DEBEZIUM_TEMPLATES[1], tmp_path / "incomplete", incomplete)
    assert result.returncode != 0
    assert "no value for $DEBEZIUM_DB_PASSWORD" in result.stderr


def test_compose_connect_reaches_the_containers_and_guards_its_rest_api():
    """Where the templates name 127.0.0.1 (the native servers share a host), the rendered
    files name the broker's and the database's services instead, on the ports those listen
    on; Debezium's principals and the REST API's basic authentication are set up as
    infra/debezium.py sets them, from the service's own variables."""
    services = COMPOSE["services"]
    connect = services["connect"]
    environment = connect["environment"]
    script = join_lines(_connect_script())
    for template in DEBEZIUM_TEMPLATES:
        target = re.search(rf"^render \S+/{re.escape(template.name)} (\S+)$", script, re.M)[1]
        loopback = {k for k, v in _properties(template).items() if "127.0.0.1" in v}
        overrides = {}
        for line in script.splitlines():
            if line.startswith("printf") and line.endswith(f">> {target}"):
                overrides.update(re.findall(r'"([\w.]+)=([^"]*)"', line))
        assert set(overrides) == loopback, f"{template.name}: {loopback} left on 127.0.0.1"
    assert '"bootstrap.servers=kafka:$KAFKA_PORT"' in script
    assert '"database.hostname=mariadb"' in script
    assert '"listeners=http://0.0.0.0:$CONNECT_PORT"' in script
    kafka_listeners = services["kafka"]["environment"]["KAFKA_LISTENERS"].split(",")
    assert f"CLIENT://:{environment['KAFKA_PORT']}" in kafka_listeners
    assert services["mariadb"]["ports"][0].endswith(f":{environment['MARIADB_PORT']}")
    # The native Connect's port unless DATAPLAT_PLATFORM_CONNECT_PORT moves that one.
    assert connect["ports"] == [f"127.0.0.1:{debezium.DEFAULT_PORT}:{environment['CONNECT_PORT']}"]
    assert environment["KAFKA_SCRAM"] == platform.KAFKA_SCRAM
    assert environment["DEBEZIUM_DB_PASSWORD"] == credential("MARIADB", "debezium")
    assert environment["DEBEZIUM_KAFKA_PASSWORD"] == credential("KAFKA", "debezium")
    assert environment["CONNECT_ADMIN_PASSWORD"] == credential("CONNECT", "admin")
    jaas = re.search(r'^export KAFKA_JAAS="(.*)"$', script, re.MULTILINE)[1]
    assert jaas.replace('\\"', '"') == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="debezium" password="$DEBEZIUM_KAFKA_PASSWORD";'
    )
    # HTTP basic authentication: the JAAS file KAFKA_OPTS names, written by the entrypoint,
    # points at the users file, which holds the admin's password; both private.
    login = re.fullmatch(r"-Djava\.security\.auth\.login\.config=(\S+)", environment["KAFKA_OPTS"])
    assert f"> {login[1]}" in script
    users = re.search(r"printf 'admin: %s\\n' \"\$CONNECT_ADMIN_PASSWORD\" > (\S+)", script)[1]
    assert f"'  file=\"{users}\";'" in script
    assert "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule" in script
    assert script.startswith("umask 077\n")
    depends = connect["depends_on"]
    assert depends["mariadb"]["condition"] == "service_healthy"
    for one_shot in ("kafka-grants", "debezium-plugin"):
        assert depends[one_shot]["condition"] == "service_completed_successfully"


def test_compose_debezium_plugin_resolves_the_connector_into_the_workers_volume():
    """As infra/debezium.py resolves it: the repository's connector POM (its folder only,
    read-only: no credentials in that container), copy-dependencies of the runtime scope,
    into the plugin folder of the worker's plugin.path; and the state volume (offsets,
    schema history) made the worker's."""
    services = COMPOSE["services"]
    plugin = services["debezium-plugin"]
    connect = services["connect"]
    assert bind_mounts("debezium-plugin") == {REPO / "infra" / "debezium": "/repo/infra/debezium"}
    assert all(v.endswith(":ro") for v in plugin["volumes"] if v.startswith("."))
    script = join_lines(shell(plugin["command"][0]))
    assert "pom=/repo/infra/debezium/connector.pom.xml\n" in script
    assert ('mvn -q -B -f "$pom" dependency:copy-dependencies '
            "-DoutputDirectory=/plugins/.staging -DincludeScope=runtime\n") in script  # fmt: skip
    assert "target=/plugins/debezium-connector-mysql\n" in script
    assert 'mv /plugins/.staging "$target"\n' in script
    pom = (REPO / "infra" / "debezium" / "connector.pom.xml").read_text()
    assert f"<debezium.version>{debezium.DEBEZIUM_VERSION}</debezium.version>" in pom

    def named_volumes(service: dict) -> dict[str, str]:
        return dict(v.split(":")[:2] for v in service["volumes"] if not v.startswith("."))

    assert named_volumes(plugin)["connect-plugins"] == "/plugins"
    assert named_volumes(connect)["connect-plugins"] == connect["environment"]["PLUGIN_PATH"]
    assert named_volumes(connect)["connect-data"] == connect["environment"]["WORK"]
    work = named_volumes(plugin)["connect-data"]
    assert f"chown 1000 {work} && chmod 0700 {work}\n" in script  # apache/kafka's appuser
