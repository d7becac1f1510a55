"""The platform servers locked down (issue #13), on the real servers of `make platform-up`:
every socket on loopback, Trino only over HTTPS with a password and each principal limited
to its schemas, PostgreSQL only with a password, credentials private and outside the repo."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from trino.dbapi import connect
from trino.exceptions import TrinoUserError

from infra import platform
from lakehouse.settings import REPO_ROOT
from tests.conftest import run_cli
from tests.platform_fixtures import KafkaLoad

pytestmark = [pytest.mark.slow, pytest.mark.platform]
LOOPBACK = {"127.0.0.1", "::1"}


def _listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket a process (and its children) listens on, from
    /proc: no tool needed."""
    import ipaddress

    pids = {pid} | {int(p) for p in _children(pid)}
    inodes = set()
    for p in pids:
        for fd in Path(f"/proc/{p}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_address, hex_port = local.split(":")
            raw = bytes.fromhex(hex_address)
            # /proc writes each 32-bit word in host (little-endian) order.
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            address = ipaddress.ip_address(ordered)
            if address.version == 6 and address.ipv4_mapped:
                address = address.ipv4_mapped
            found.add((str(address), int(hex_port, 16)))
    return found


def _children(pid: int) -> list[str]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    children = result.stdout.split()
    return children + [c for child in children for c in _children(int(child))]


def _server_pids() -> dict[str, int]:
    run = platform.RUN
    pids = {name: int((run / f"{name}.pid").read_text()) for name in ("kafka", "trino")}
    pids["postgres"] = int((run / "postgres" / "postmaster.pid").read_text().split()[0])
    return pids


def test_every_server_socket_is_on_loopback(platform_servers):
    for name, pid in _server_pids().items():
        addresses = _listening_addresses(pid)
        assert addresses, f"{name} (pid {pid}) listens on nothing?"
        exposed = {a for a in addresses if a[0] not in LOOPBACK}
        assert not exposed, f"{name} listens beyond loopback: {sorted(exposed)}"


def _statement(auth: tuple[str, str] | None, port: int = platform.TRINO_PORT,
               scheme: str = "https") -> httpx.Response:  # fmt: skip
    import ssl

    verify = ssl.create_default_context(cafile=str(platform.trino_files()["certificate"]))
    with httpx.Client(verify=verify, timeout=30) as client:
        return client.post(
            f"{scheme}://127.0.0.1:{port}/v1/statement", content="select 1",
            headers={"X-Trino-User": auth[0] if auth else "admin"}, auth=auth,
        )  # fmt: skip


def test_trino_refuses_missing_and_wrong_passwords(platform_servers):
    admin_password = platform.CREDENTIALS.password("TRINO", "admin")
    assert _statement(None).status_code == 401
    assert _statement(("admin", "not-the-password")).status_code == 401
    assert _statement(("nobody", admin_password)).status_code == 401
    assert _statement(("admin", admin_password)).status_code == 200
    # The node's internal HTTP port takes no client requests without the shared secret.
    internal = _statement(None, port=platform.TRINO_INTERNAL_PORT, scheme="http")
    assert internal.status_code in (401, 403), internal.text


READERS_CATALOG = "iceberg_readonly"  # the API's and the analysts' (read-only connector)


def _query(user: str, sql: str, catalog: str = "iceberg") -> list:
    connection = connect(**platform.trino_settings(user).trino_connection, catalog=catalog)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        connection.close()


def _denied(user: str, sql: str, catalog: str = "iceberg") -> str:
    with pytest.raises(TrinoUserError) as refused:
        _query(user, sql, catalog)
    assert refused.value.error_name == "PERMISSION_DENIED", (user, sql, refused.value)
    return refused.value.message


def test_each_principal_reaches_only_what_its_job_needs(platform_home: KafkaLoad):
    """The marts, staging and raw tables exist (the platform pipeline ran): each job's
    principal reads and writes its own schemas and nothing else."""
    api_catalog = platform_home.settings.trino_catalog
    assert api_catalog == READERS_CATALOG
    assert _query("api", "select count(*) from marts.platform_visitors_daily", api_catalog)[0][0]
    _denied("api", "select count(*) from raw.weblog_events", api_catalog)
    _denied("api", "select count(*) from staging.stg_weblog__events", api_catalog)
    _denied("api", "drop table marts.platform_visitors_daily", api_catalog)
    _denied("api", "select count(*) from marts.platform_visitors_daily", "iceberg")

    assert _query("transform", "select count(*) from raw.weblog_events")[0][0] > 0
    _denied("transform", "drop table raw.weblog_events")
    _denied("transform", "delete from raw.weblog_events")

    _denied("maintenance", "select count(*) from marts.platform_visitors_daily")
    _denied("maintenance", "drop table raw.weblog_events")

    for analyst in ("analyst_marketing", "analyst_finance"):

        def query(sql: str, analyst: str = analyst) -> list:
            return _query(analyst, sql, READERS_CATALOG)

        def denied(sql: str, analyst: str = analyst) -> str:
            return _denied(analyst, sql, READERS_CATALOG)

        assert query("select count(*) from marts.mall_visitors_daily")[0][0] > 0
        assert query("select count(*) from staging.stg_shop__orders")[0][0] > 0
        assert query("select count(*) from monitoring.mall_volume_checks")[0][0] > 0
        assert query("select count(event_id) from raw.weblog_events")[0][0] > 0
        for column, table in (("ip", "weblog_events"), ("payload", "weblog_events"),
                              ("after", "shop_members"), ("before", "shop_members")):  # fmt: skip
            assert "Cannot select" in denied(f"select {column} from raw.{table}")
        denied("select * from raw.weblog_events")
        denied("create table marts.scratch as select 1 as one")
        denied("select count(*) from system.runtime.queries")
        _denied(analyst, "select count(*) from marts.mall_visitors_daily", "iceberg")


def test_only_maintenance_runs_table_procedures_on_raw(platform_home: KafkaLoad):
    """Trino's file-based rules cannot restrict table procedures (ALTER TABLE ... EXECUTE);
    the readers' catalog refuses them for everyone, and the writers' catalog is the
    transform's, maintenance's and the admin's only."""
    for reader in ("api", "analyst_marketing", "analyst_finance"):
        for table in ("raw.weblog_events", "marts.mall_visitors_daily"):
            for procedure in ("optimize", "expire_snapshots(retention_threshold => '7d')",
                              "remove_orphan_files(retention_threshold => '7d')"):  # fmt: skip
                message = _denied(reader, f"alter table {table} execute {procedure}",
                                  READERS_CATALOG)  # fmt: skip
                assert "Cannot execute table procedure" in message, message
    # Maintenance's job (nothing is old enough to go: the data set was loaded minutes ago).
    _query("maintenance", "alter table raw.weblog_events execute "
           "expire_snapshots(retention_threshold => '7d')")  # fmt: skip


def test_postgres_wants_a_password_and_its_catalog_owner_is_no_superuser(platform_servers):
    environment = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    refused = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(platform.PG_PORT), "-U", "lakehouse",
         "-d", "iceberg_catalog", "-w", "-c", "select 1"],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert refused.returncode != 0 and "password" in refused.stderr, refused.stderr
    superuser = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(platform.PG_PORT), "-U", "lakehouse",
         "-d", "iceberg_catalog", "-tAc", "select rolsuper from pg_roles "
         "where rolname = current_user"],
        capture_output=True, text=True, check=True,
        env={**environment, "PGPASSWORD": platform.CREDENTIALS.password("PG", "lakehouse")},
    )  # fmt: skip
    assert superuser.stdout.strip() == "f"
    assert stat.S_IMODE(platform.PG_SOCKET_DIR.stat().st_mode) == 0o700


def test_credentials_are_private_and_outside_the_repository(platform_servers):
    credentials = platform.CREDENTIALS.file
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()  # fmt: skip
    assert not [path for path in tracked if "secrets" in path or path.endswith(".pem")]
    for password in platform.CREDENTIALS.all().values():
        found = subprocess.run(["git", "grep", "-lF", password], cwd=REPO_ROOT,
                               capture_output=True, text=True)  # fmt: skip
        assert found.stdout == "", f"a credential is in {found.stdout}"


def _kafka_error(action) -> str:
    """The name of the Kafka error ``action()`` ends with (it must fail)."""
    from confluent_kafka import KafkaException

    with pytest.raises(KafkaException) as refused:
        action()
    return refused.value.args[0].name()


def test_kafka_wants_scram_credentials_and_grants_each_principal_its_job(
    platform_home: KafkaLoad,
):
    """No credentials or a wrong password: no metadata at all. The loader reads the contract
    topics but cannot write them, create or delete a topic; the producer writes but cannot
    read, create or delete; the admin alone manages topics."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from lakehouse.tables import WEBLOG_TOPIC

    loader = platform.kafka_settings("loader").kafka_client_config
    producer = platform.kafka_settings("producer").kafka_client_config
    anonymous = {"bootstrap.servers": loader["bootstrap.servers"]}
    wrong_password = {**loader, "sasl.password": "not-the-password"}
    # Without credentials the broker closes the connection; with a wrong password the
    # client is told authentication failed. Either way no metadata comes back.
    for refused, expected in ((anonymous, None), (wrong_password, "_AUTHENTICATION")):
        reported = []
        client = AdminClient({**refused, "error_cb": lambda e, r=reported: r.append(e.name())})
        assert _kafka_error(lambda c=client: c.list_topics(timeout=5)) in (
            "_TRANSPORT",
            "_TIMED_OUT",
        )
        client.poll(1)  # serves the error callback
        assert reported and (expected is None or expected in reported), reported

    for name, connection in (("loader", loader), ("producer", producer)):
        admin = AdminClient(connection)
        assert WEBLOG_TOPIC in admin.list_topics(timeout=10).topics, name
        topic = f"test.not-yours-{name}"
        create = admin.create_topics([NewTopic(topic, 1, 1)])[topic]
        assert _kafka_error(create.result) == "TOPIC_AUTHORIZATION_FAILED", name
        delete = admin.delete_topics([WEBLOG_TOPIC])[WEBLOG_TOPIC]
        assert _kafka_error(delete.result) == "TOPIC_AUTHORIZATION_FAILED", name
    assert WEBLOG_TOPIC in AdminClient(loader).list_topics(timeout=10).topics

    delivered = []
    writer = Producer(loader)
    writer.produce(
        WEBLOG_TOPIC, b"not from the loader", on_delivery=lambda e, m: delivered.append(e)
    )
    writer.flush(30)
    assert [e.name() for e in delivered] == ["TOPIC_AUTHORIZATION_FAILED"]

    # The producer has neither a consumer group nor read access: which refusal the client
    # reports first is a race between the coordinator lookup and the fetch, so collect the
    # errors until the fetch's refusal comes; no record may arrive meanwhile.
    reader = Consumer({**producer, "group.id": "dataplat-loader-producer-test"})
    reader.assign([TopicPartition(WEBLOG_TOPIC, 0, 0)])
    refusals, deadline = [], time.monotonic() + 30
    while "TOPIC_AUTHORIZATION_FAILED" not in refusals and time.monotonic() < deadline:
        message = reader.poll(1)
        if message is not None:
            assert message.error() is not None, "the producer read a record"
            refusals.append(message.error().name())
    reader.close()
    assert "TOPIC_AUTHORIZATION_FAILED" in refusals, refusals
    assert set(refusals) <= {"TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED"}

    own = Consumer({**loader, "group.id": "dataplat-loader-test", "enable.auto.commit": False})
    own.assign([TopicPartition(WEBLOG_TOPIC, 0, 0)])
    message = own.poll(15)
    own.close()
    assert message is not None and message.error() is None and message.offset() == 0


def test_wrong_kafka_credentials_end_the_jobs_with_the_fix(
    platform_home: KafkaLoad, tmp_path: Path
):
    """A loader with a wrong password stops and names the variables to set, instead of
    retrying forever; publishing a topic that does not exist without the admin's password
    names it too (the producer may not create topics)."""
    wrong = {**platform_home.env, "DATAPLAT_KAFKA_LOADER_PASSWORD": "not-the-password"}
    loader = run_cli("ingest", "--from-kafka", "default", "--stop-when-idle", "5",
                     env=wrong, check=False)  # fmt: skip
    assert loader.returncode == 1, loader.stderr
    said = " ".join(loader.stderr.split())  # the console wraps long lines
    assert "refused the credentials of user loader" in said
    assert "DATAPLAT_KAFKA_LOADER_PASSWORD" in said

    dumps = tmp_path / "dumps"
    dumps.mkdir()
    first = next(iter(platform_home.parts[0].glob("weblog.*.jsonl"))).read_bytes().splitlines()[0]
    (dumps / "test.unlisted-topic.jsonl").write_bytes(first + b"\n")
    producer_only = {k: v for k, v in platform_home.env.items()
                     if k != "DATAPLAT_KAFKA_ADMIN_PASSWORD"}  # fmt: skip
    publish = run_cli("publish", "--from-dir", str(dumps), env=producer_only, check=False)
    assert publish.returncode == 1, publish.stderr
    said = " ".join(publish.stderr.split())
    assert "only a Kafka admin may create topics" in said
    assert "DATAPLAT_KAFKA_ADMIN_PASSWORD" in said
