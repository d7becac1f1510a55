"""Debezium on Kafka Connect: the shop database's changes (infra/shop_database.py) into the
shop.* topics, as the topic contract describes them.

    python -m infra.platform up connect     (part of `make platform-up`, after kafka, mariadb)

Kafka Connect 3.9.1 (the broker's version) and Debezium 3.6.1.Final's MySQL connector come
from Maven Central (infra/kafka-connect/runtime.pom.xml, infra/debezium/connector.pom.xml),
cached in DATAPLAT_PLATFORM_CACHE. One standalone worker runs one connector, `shop-cdc`:

- its configuration is in the repository: infra/conf/debezium/shop-cdc.properties (the
  connector, each setting explained) and worker.properties; this module fills in ports,
  paths and passwords and writes the result into RUN/connect (mode 0600);
- the binlog position (offsets.dat) and the table definitions (schema-history.dat) live in
  RUN/connect: a restarted worker resumes where its last flushed offset was, and redelivers
  what came after it;
- the worker's Kafka principal is `debezium` (it may write the shop topics, nothing else);
  its REST API listens on 127.0.0.1:DATAPLAT_PLATFORM_CONNECT_PORT (default 8083) behind HTTP
  basic authentication (user admin, DATAPLAT_CONNECT_ADMIN_PASSWORD of the credentials).

The worker is healthy when the REST API reports the connector and its task RUNNING; a FAILED
task ends `up` with Connect's own stack trace.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import urllib.error
import urllib.request
from string import Template

from infra import shop_database
from infra.credentials import write_private
from infra.kafka_connect import fetch_worker, resolve
from infra.platform import (
    CACHE,
    CONF,
    CREDENTIALS,
    KAFKA_PORT,
    KAFKA_SCRAM,
    REPO,
    RUN,
    PlatformError,
    _kafka_admin,
    _spawn,
    _stop_process,
    _wait,
)

# The compose file publishes its Connect on the default port (tests/test_compose.py).
DEFAULT_PORT = 8083
PORT = int(os.environ.get("DATAPLAT_PLATFORM_CONNECT_PORT", DEFAULT_PORT))
DEBEZIUM_VERSION = "3.6.1.Final"
CONNECTOR = "shop-cdc"
WORK = RUN / "connect"
PLUGINS = CACHE / f"kafka-connect-plugins-debezium-{DEBEZIUM_VERSION}"


def fetch_debezium() -> tuple:
    """(the worker's jar folder, the plugin.path folder holding Debezium's connector)."""
    libs = fetch_worker()
    resolve(REPO / "infra" / "debezium" / "connector.pom.xml",
            PLUGINS / "debezium-connector-mysql",
            f"debezium-connector-mysql-{DEBEZIUM_VERSION}.jar")  # fmt: skip
    return libs, PLUGINS


def ensure_cdc_topics() -> None:
    """The shop.* topics, made by the admin (nobody else may create topics)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    from lakehouse.tables import CDC_PARTITIONS, CDC_TOPICS, CONTRACT_TOPIC_CONFIG

    admin = _kafka_admin()
    existing = admin.list_topics(timeout=30).topics
    # No retention, as `dataplat publish` makes them: either may write these topics first.
    missing = [NewTopic(t, num_partitions=CDC_PARTITIONS, replication_factor=1,
                        config=CONTRACT_TOPIC_CONFIG)
               for t in CDC_TOPICS if t not in existing]  # fmt: skip
    if missing:
        for future in admin.create_topics(missing, operation_timeout=30).values():
            try:
                future.result()
            except KafkaException as exc:
                # Made meanwhile by another process starting the platform (a second test
                # worker): what this one wanted.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise


def _write_configs(plugins) -> list:
    """The worker's, the connector's, log4j's and JAAS's files (private: they hold passwords)."""
    WORK.mkdir(parents=True, exist_ok=True)
    kafka_password = CREDENTIALS.password("KAFKA", "debezium")
    values = {
        "KAFKA_PORT": KAFKA_PORT, "KAFKA_SCRAM": KAFKA_SCRAM, "CONNECT_PORT": PORT,
        "KAFKA_JAAS": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                      f'username="debezium" password="{kafka_password}";',
        "MARIADB_PORT": shop_database.PORT,
        "DEBEZIUM_DB_PASSWORD": CREDENTIALS.password("MARIADB", "debezium"),
        "WORK": WORK, "PLUGIN_PATH": plugins,
        "OFFSET_FLUSH_MS": int(os.environ.get("DATAPLAT_PLATFORM_CONNECT_OFFSET_FLUSH_MS", 5000)),
    }  # fmt: skip
    paths = []
    for name in ("worker.properties", "shop-cdc.properties"):
        template = Template((CONF / "debezium" / name).read_text())
        path = WORK / name
        write_private(path, template.substitute(values))
        paths.append(path)
    users = WORK / "rest-users.properties"
    write_private(users, f"admin: {CREDENTIALS.password('CONNECT', 'admin')}\n")
    jaas = WORK / "rest-jaas.conf"
    write_private(jaas, "KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension."
                        f'PropertyFileLoginModule required\n  file="{users}";\n}};\n')  # fmt: skip
    log4j = WORK / "log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=INFO, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.org.apache.kafka.clients=WARN\n"
    )
    return [*paths, jaas, log4j]


def rest(path: str, method: str = "GET", password: str | None = None) -> tuple[int, object]:
    """(HTTP status, JSON body) of a call to the worker's REST API, as its admin."""
    password = CREDENTIALS.password("CONNECT", "admin") if password is None else password
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method,
                                     headers={"Authorization": f"Basic {token}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")


def connector_status() -> dict | None:
    """The REST API's status of shop-cdc, or None while the worker does not answer."""
    try:
        status, body = rest(f"/connectors/{CONNECTOR}/status")
    except (OSError, ValueError):
        return None
    return body if status == 200 and isinstance(body, dict) else None


def _worker_answers() -> bool:
    """The worker's REST API answers (its connector may still be starting)."""
    try:
        return rest("/")[0] == 200
    except (OSError, ValueError):
        return False


def _running() -> bool:
    status = connector_status()
    if status is None:
        return False
    tasks = status.get("tasks") or []
    for task in tasks:
        if task.get("state") == "FAILED":
            raise PlatformError(f"Debezium's task failed:\n{task.get('trace', '')[:4000]}")
    return status["connector"]["state"] == "RUNNING" and any(
        t.get("state") == "RUNNING" for t in tasks
    )


def up_connect() -> None:
    libs, plugins = fetch_debezium()
    ensure_cdc_topics()
    worker, connector, jaas, log4j = _write_configs(plugins)
    if not _worker_answers():
        _spawn("connect", ["java", "-Xmx512m", "-cp", f"{libs}/*",
                           f"-Dlog4j.configuration={log4j.as_uri()}",
                           f"-Djava.security.auth.login.config={jaas}",
                           "org.apache.kafka.connect.cli.ConnectStandalone",
                           str(worker), str(connector)])  # fmt: skip
    _wait("connect", _running, RUN / "connect.log", 180)


def down_connect() -> None:
    _stop_process("connect")


def kill_connect() -> None:
    """SIGKILL to the worker, as a crash would end it: no offsets flushed, no clean stop."""
    pid_file = RUN / "connect.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        pid_file.unlink(missing_ok=True)


def forget_positions() -> None:
    """A stopped connector's binlog position and table definitions removed: its next start
    snapshots the tables again, as on a first start."""
    for name in ("offsets.dat", "schema-history.dat"):
        (WORK / name).unlink(missing_ok=True)


def start_over(restart: bool = True) -> None:
    """Empty shop tables and a connector that has never run (`platform reset`; the topics
    are the caller's). With ``restart``, the worker starts again and snapshots the empty
    tables."""
    down_connect()
    forget_positions()
    shop_database.reset_shop_tables()
    if restart:
        up_connect()
