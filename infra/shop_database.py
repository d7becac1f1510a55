"""The shop database: MariaDB 10.11 from Debian's packages, whose binlog Debezium streams into
the shop.* topics (infra/debezium.py).

    python -m infra.platform up mariadb     (part of `make platform-up`)

Debian's packages (mariadb-server-core, mariadb-client-core and the three libraries they need
beyond a base system) are fetched with `apt-get download` and unpacked with `dpkg -x` into
DATAPLAT_PLATFORM_CACHE: nothing is installed into the system and no system service starts.
The server runs as the user calling this script, on 127.0.0.1:DATAPLAT_PLATFORM_MARIADB_PORT
(default 3307; 3306 is left to a system MariaDB), with its data in RUN/mariadb and:

- a ROW binlog with full row images (what Debezium's binlog reader needs), files named
  mysql-bin.NNNNNN as in the contract's examples, kept 7 days;
- root only through the server's private socket (unix_socket authentication: the OS user who
  started it), never over TCP; shop_app and debezium log in over loopback TCP with passwords
  from the platform's credentials (infra/credentials.py);
- the seven contract tables in database `shop` (infra/conf/mariadb/shop_schema.sql).

The version it reports. Debezium 3.6's MySQL connector reads MariaDB's binlog, but it decides
its SQL from the version number: "10.11" reads as newer than MySQL 8.4, so it asks for
`SHOW BINARY LOG STATUS`, which MariaDB does not have; and its JDBC driver (Connector/J 9.1)
reads `@@transaction_isolation` from servers it takes for MySQL 5.7.20 or later, a variable
MariaDB 10.11 calls `tx_isolation`. The server therefore reports "5.7.19-<its real version
number>" (`--version`): both take the paths that MariaDB speaks. The word "MariaDB" must not
be in it: Debezium's binlog client would then ask for MariaDB's own GTID events, which the
MySQL connector does not take for transaction starts, so the position it stores skips the
first row of the next transaction and every restart lost one change (seen here: 1 of 2
inserts after each clean restart). Without it MariaDB sends MySQL 5.7's events (a BEGIN
query per transaction), and restarts lose nothing (tests/test_debezium.py). Debezium's own
MariaDB connector (debezium-connector-mariadb) would need none of this, but Maven Central
does not serve it here.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

from infra.credentials import MARIADB_USERS
from infra.platform import (
    CACHE,
    CONF,
    CREDENTIALS,
    RUN,
    PlatformError,
    _log,
    _port_open,
    _spawn,
    _stop_process,
    _wait,
)

PORT = int(os.environ.get("DATAPLAT_PLATFORM_MARIADB_PORT", "3307"))
DATABASE = "shop"
PACKAGES = ("mariadb-server-core", "mariadb-client-core", "libaio1", "liburing2", "libnuma1")
DATA = RUN / "mariadb"
SOCKET_DIR = RUN / "mariadb-socket"  # private (0700): root's way in
SOCKET = SOCKET_DIR / "mariadb.sock"
SCHEMA = CONF / "mariadb" / "shop_schema.sql"
# What each principal may do (least privilege). Debezium: read the tables for its snapshot,
# RELOAD for the snapshot's global read lock, and the binlog (REPLICATION SLAVE, BINLOG
# MONITOR: MariaDB's name for REPLICATION CLIENT).
GRANTS = {
    "shop_app": f"SELECT, INSERT, UPDATE, DELETE, ALTER ON `{DATABASE}`.*",
    "debezium": "SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.*",
}


def fetch_mariadb() -> Path:
    """The unpacked packages (a folder with usr/sbin/mariadbd), fetched once per version."""
    for ready in sorted(CACHE.glob("mariadb-*/usr/sbin/mariadbd"), reverse=True):
        return ready.parent.parent.parent
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise PlatformError(
            "the shop database comes from Debian's packages: apt-get and dpkg are needed (a "
            "Debian or Ubuntu machine), or run docker compose"
        )
    staging = CACHE / "mariadb.part"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "debs").mkdir(parents=True)
    _log(f"downloading Debian's {', '.join(PACKAGES)}")
    download = ["apt-get", "download", *PACKAGES]
    result = subprocess.run(download, cwd=staging / "debs", capture_output=True, text=True)
    if result.returncode != 0 and os.geteuid() == 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        result = subprocess.run(download, cwd=staging / "debs", capture_output=True, text=True)
    if result.returncode != 0:
        raise PlatformError(
            f"apt-get download {' '.join(PACKAGES)} failed (exit {result.returncode}): the "
            f"package lists may be missing (run `sudo apt-get update`):\n{result.stderr[-2000:]}"
        )
    root = staging / "root"
    for deb in sorted((staging / "debs").glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, capture_output=True)
    server_deb = next((staging / "debs").glob("mariadb-server-core_*.deb"))
    version = unquote(server_deb.name.split("_")[1]).split(":")[-1]  # 1%3a10.11.19-0 → 10.11.19-0
    target = CACHE / f"mariadb-{version}"
    shutil.rmtree(target, ignore_errors=True)
    root.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def _environment(root: Path) -> dict[str, str]:
    """The unpacked libraries first (libaio, liburing are not in a base system)."""
    libs = root / "usr" / "lib" / "x86_64-linux-gnu"
    return {"LD_LIBRARY_PATH": f"{libs}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")}


def _real_version(root: Path) -> str:
    """mariadbd's own version number, e.g. 10.11.19."""
    environment = {**os.environ, **_environment(root)}
    out = subprocess.run([str(root / "usr" / "sbin" / "mariadbd"), "--version"],
                         capture_output=True, text=True, env=environment)  # fmt: skip
    found = re.search(r"Ver (\S+)", out.stdout)
    if out.returncode != 0 or not found:
        raise PlatformError(f"mariadbd does not start from {root}:\n{out.stdout}{out.stderr}")
    return found.group(1).split("-")[0]


def _client(root: Path, sql: str, database: str | None = None) -> str:
    """SQL as root through the private socket (unix_socket authentication)."""
    args = [str(root / "usr" / "bin" / "mariadb"), "--no-defaults", f"--socket={SOCKET}",
            "--user=root", "--batch", "--skip-column-names"]  # fmt: skip
    result = subprocess.run([*args, *([database] if database else [])], input=sql,
                            capture_output=True, text=True,
                            env={**os.environ, **_environment(root)})  # fmt: skip
    if result.returncode != 0:
        raise PlatformError(f"mariadb client failed: {result.stderr.strip()}")
    return result.stdout


def _initialize(root: Path) -> None:
    """An empty data folder with root bound to the OS user through the socket."""
    DATA.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(root / "usr" / "bin" / "mariadb-install-db"), "--no-defaults",
         f"--basedir={root / 'usr'}", f"--datadir={DATA}", "--skip-test-db",
         "--auth-root-authentication-method=socket", f"--auth-root-socket-user={getpass.getuser()}",
         *(["--user=root"] if os.geteuid() == 0 else [])],
        capture_output=True, text=True, env={**os.environ, **_environment(root)},
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(DATA, ignore_errors=True)
        raise PlatformError(f"mariadb-install-db failed:\n{result.stdout}{result.stderr}"[-3000:])


def server_args(root: Path) -> list[str]:
    return [
        str(root / "usr" / "sbin" / "mariadbd"), "--no-defaults",
        f"--basedir={root / 'usr'}", f"--datadir={DATA}",
        f"--lc-messages-dir={root / 'usr' / 'share' / 'mysql'}",
        f"--plugin-dir={root / 'usr' / 'lib' / 'mysql' / 'plugin'}",
        *(["--user=root"] if os.geteuid() == 0 else []),
        "--bind-address=127.0.0.1", f"--port={PORT}", f"--socket={SOCKET}",
        f"--pid-file={DATA / 'mariadbd.pid'}", "--skip-name-resolve",
        "--log-bin=mysql-bin", "--binlog-format=ROW", "--binlog-row-image=FULL",
        "--server-id=1", "--expire-logs-days=7",
        f"--version=5.7.19-{_real_version(root)}",  # the module's docstring says why
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
        "--default-time-zone=+00:00", "--sql-mode=STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION",
        # A development server on a shared machine: a small buffer pool, and commits that do
        # not wait for the disk (a crash may lose the last second; the binlog stays in order).
        "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
        "--sync-binlog=0",
    ]  # fmt: skip


def connection_settings(user: str = "shop_app") -> dict[str, object]:
    """pymysql's connect() arguments for one principal."""
    return {"host": "127.0.0.1", "port": PORT, "user": user, "database": DATABASE,
            "password": CREDENTIALS.password("MARIADB", user)}  # fmt: skip


def _ready() -> bool:
    """Listening, and shop_app logs in over TCP with its password."""
    import pymysql

    if not _port_open(PORT):
        return False
    try:
        pymysql.connect(**connection_settings("shop_app"), connect_timeout=3).close()
        return True
    except pymysql.MySQLError:
        return False


def _provision(root: Path) -> None:
    """The database, the contract's tables and the principals (idempotent: every start)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4;"]
    for user in MARIADB_USERS:
        password = CREDENTIALS.password("MARIADB", user).replace("'", "''")
        statements += [
            f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';",
            f"ALTER USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';",
            f"GRANT {GRANTS[user]} TO '{user}'@'127.0.0.1';",
        ]
    _client(root, "\n".join(statements))
    _client(root, SCHEMA.read_text(), DATABASE)


def up_mariadb() -> None:
    root = fetch_mariadb()
    SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    SOCKET_DIR.chmod(0o700)
    if not (DATA / "mysql").exists():
        _initialize(root)
    if not _port_open(PORT):
        _spawn("mariadb", server_args(root), env=_environment(root))
    _wait("mariadb", lambda: _port_open(PORT) and SOCKET.exists(), RUN / "mariadb.log", 60)
    _provision(root)
    if not _ready():
        raise PlatformError(f"mariadb is up but shop_app cannot log in on 127.0.0.1:{PORT}; "
                            f"see {RUN / 'mariadb.log'}")  # fmt: skip


def down_mariadb() -> None:
    """SIGTERM: mariadbd shuts down cleanly (InnoDB and the binlog flushed)."""
    _stop_process("mariadb")


def reset_shop_tables() -> None:
    """Drops and recreates the shop tables, empty (the binlog keeps going: a connector
    started afterwards snapshots the empty tables from the binlog's current end)."""
    root = fetch_mariadb()
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA.read_text())
    _client(root, "".join(f"DROP TABLE IF EXISTS `{t}`;\n" for t in tables), DATABASE)
    _client(root, SCHEMA.read_text(), DATABASE)


def mariadb_ready() -> bool:
    return _ready()
