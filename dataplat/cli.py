"""The `dataplat` command line: the one module that imports every component. Each command
reads its own component's settings from the environment (prefix ``DATAPLAT_``)."""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from lakehouse.logging import configure_logging

app = typer.Typer(
    help="Lakehouse-in-a-box for commerce: Kafka topics → Iceberg → dbt → REST API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, emoji=False)
keys_app = typer.Typer(help="API keys: create, list, revoke (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
offsets_app = typer.Typer(
    help="Where each topic-partition stands; re-base a stopped one.", no_args_is_help=True
)
app.add_typer(offsets_app, name="offsets")


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-text", help="Default: JSON unless a terminal.")
    ] = None,
) -> None:
    configure_logging(log_level.upper(), log_json)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder for <topic>.jsonl files (kcat -J format).")],
    days: Annotated[int, typer.Option(min=1, help="Consecutive KST days of traffic.")] = 3,
    events_per_day: Annotated[int, typer.Option(min=1, help="Weblog events per day.")] = 200_000,
    malls: Annotated[int, typer.Option(min=1, help="Number of malls.")] = 50,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    start: Annotated[
        str, typer.Option(help="First KST day, YYYY-MM-DD (default crosses a month end).")
    ] = "2026-01-30",
    cdc_faults: Annotated[
        bool,
        typer.Option(
            "--cdc-faults/--no-cdc-faults",
            help="Producer faults in the shop.* topics (wrong-typed values, redelivered and "
            "broken changes); without them, the history Debezium itself would send.",
        ),
    ] = True,
) -> None:
    """Generate a realistic data set for every topic, producer faults included."""
    from sampledata.generate import generate as run_generate

    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        _fail(f"--start {start!r} is not a date like 2026-01-30")
    manifest = run_generate(
        out,
        days=days,
        events_per_day=events_per_day,
        malls=malls,
        seed=seed,
        start=first_day,
        progress=sys.stderr.isatty(),
        cdc_faults=cdc_faults,
    )
    console.print(f"wrote {out} ({sum(manifest['records'].values()):,} records)")


@app.command()
def ingest(
    from_dir: Annotated[
        Path | None, typer.Option(help="Folder of <topic>.jsonl kcat -J dumps to load.")
    ] = None,
    from_kafka: Annotated[
        str | None,
        typer.Option(
            help="Kafka bootstrap servers to consume the contract topics from (runs until "
            "SIGTERM/Ctrl-C); 'default' means DATAPLAT_KAFKA_BOOTSTRAP."
        ),
    ] = None,
    stop_when_idle: Annotated[
        float | None,
        typer.Option(
            min=0, help="With --from-kafka: stop once caught up and idle for this many seconds."
        ),
    ] = None,
) -> None:
    """Land topic records in the Iceberg raw tables, exactly once (safe to re-run)."""
    from loader.file_source import CorruptDumpError
    from loader.service import ingest_files
    from loader.settings import LoaderSettings

    if (from_dir is None) == (from_kafka is None):
        _fail("say where the records come from: --from-dir DIR or --from-kafka BOOTSTRAP")
    settings = LoaderSettings()
    if from_kafka is not None:
        from loader.kafka_source import KafkaSourceError
        from loader.service import ingest_kafka

        if from_kafka != "default":
            settings = settings.model_copy(update={"kafka_bootstrap": from_kafka})
        try:
            ingest_kafka(settings, stop_when_idle=stop_when_idle, show_progress=sys.stderr.isatty())
        except KafkaSourceError as exc:
            _fail(str(exc))
        return
    assert from_dir is not None
    try:
        ingest_files(settings, from_dir, show_progress=sys.stderr.isatty())
    except (FileNotFoundError, CorruptDumpError, ValueError) as exc:
        _fail(str(exc))


@app.command()
def publish(
    from_dir: Annotated[Path, typer.Option(help="Folder of <topic>.jsonl kcat -J dumps.")],
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (default DATAPLAT_KAFKA_BOOTSTRAP).")
    ] = None,
) -> None:
    """Produce a generated data set into Kafka, each record to its own partition."""
    from sampledata.replay import PublishError, PublishSettings, publish_dumps

    settings = PublishSettings()
    if bootstrap is not None:
        settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    try:
        stats = publish_dumps(settings, from_dir, show_progress=sys.stderr.isatty())
    except (FileNotFoundError, PublishError) as exc:
        _fail(str(exc))
    console.print(
        f"published {sum(stats.records.values()):,} records to {settings.kafka_bootstrap}"
    )


@app.command("simulate-shop")
def simulate_shop(
    from_dir: Annotated[
        Path, typer.Option(help="Folder of the generated dumps (shop.<table>.jsonl are read).")
    ],
    phase: Annotated[
        Literal["all", "snapshot", "changes"],
        typer.Option(
            help="snapshot: the initial load (op r) only; changes: the inserts, updates and "
            "deletes after it; all: both."
        ),
    ] = "all",
    batch: Annotated[int, typer.Option(min=1, help="Changes per transaction.")] = 500,
    skip: Annotated[
        int, typer.Option(min=0, help="Leave out the phase's first N changes (binlog order).")
    ] = 0,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Apply at most N of the phase's changes.")
    ] = None,
) -> None:
    """Apply the shop history of generated dumps to the shop database (MariaDB) as SQL, in
    binlog order, so that Debezium turns it into real change events. Faulty records
    (broken, redelivered, values the database refuses) are skipped and counted."""
    from sampledata.shop_simulator import ShopDatabaseError, ShopDatabaseSettings, apply_history

    settings = ShopDatabaseSettings()
    try:
        stats = apply_history(settings, from_dir, phase=phase, batch=batch, skip=skip,
                              limit=limit, show_progress=sys.stderr.isatty())  # fmt: skip
    except (FileNotFoundError, ShopDatabaseError) as exc:
        _fail(str(exc))
    applied = ", ".join(f"{op} {stats.applied[op]:,}" for op in "rcud" if stats.applied[op])
    console.print(
        f"applied {sum(stats.applied.values()):,} changes ({applied or 'none'}) to "
        f"{settings.where} in {stats.seconds:.1f} s",
        soft_wrap=True,
    )
    if unchanged := sum(stats.unchanged.values()):
        console.print(f"  {unchanged:,} updates left their row as it was (no binlog event)")
    for reason, count in sorted(stats.skipped.items(), key=lambda item: -item[1]):
        console.print(f"  skipped {count:,}: {reason}", markup=False, soft_wrap=True)


@app.command()
def transform(
    full_refresh: Annotated[
        bool, typer.Option(help="Rebuild incremental models from all raw data.")
    ] = False,
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. +marts.")] = None,
    from_day: Annotated[
        date | None,
        typer.Option(formats=["%Y-%m-%d"], help="Backfill: rebuild from this KST day (raw data)."),
    ] = None,
    to_day: Annotated[
        date | None,
        typer.Option(formats=["%Y-%m-%d"], help="Backfill: last KST day to rebuild (inclusive)."),
    ] = None,
    unit_tests: Annotated[
        bool,
        typer.Option(
            "--unit-tests", help="Also run dbt's unit tests (CI, development; checks the SQL)."
        ),
    ] = False,
) -> None:
    """Build every dbt model and data test (dbt build) for every day in the data, then publish.

    Incremental models rebuild the days with newly ingested events; --from-day/--to-day also
    rebuild those days from the raw tables (a backfill: running it twice changes nothing).
    dbt's unit tests check the models' SQL on fixed inputs, not the data: production builds
    leave them out, CI runs them (--unit-tests)."""
    from transform.build import TransformError, rebuild_vars
    from transform.build import transform as run_transform
    from transform.settings import TransformSettings

    if to_day and not from_day:
        _fail("--to-day needs --from-day")
    try:
        days = rebuild_vars(from_day, to_day or from_day) if from_day else None
        published = run_transform(
            TransformSettings(),
            full_refresh=full_refresh,
            select=select,
            dbt_vars=days,
            unit_tests=unit_tests,
        )
    except TransformError as exc:
        _fail(str(exc))
    if published:
        console.print(f"marts published: {published}")


@app.command()
def maintain(
    table: Annotated[
        list[str] | None,
        typer.Option(help="raw.<name> or audit.segment_reads; repeat for several. Default: all."),
    ] = None,
) -> None:
    """Table maintenance of the raw tables and the audit table: compaction of small files,
    snapshot expiry, orphan file removal (retention from DATAPLAT_SNAPSHOT_RETENTION_HOURS
    and friends). Safe while the loader runs."""
    from lakehouse.maintenance import MaintenanceError, maintain_embedded, maintain_on_trino
    from lakehouse.settings import MaintenanceSettings

    settings = MaintenanceSettings()
    if settings.engine == "trino":
        try:
            statements = maintain_on_trino(settings, table)
        except MaintenanceError as exc:
            _fail(str(exc))
        for statement in statements:
            typer.echo(statement)  # stdout, unwrapped: what ran on Trino
        return
    for report in maintain_embedded(settings, table):
        console.print(
            f"{report.table}: {report.files_compacted} files compacted into "
            f"{report.files_written}, {report.snapshots_expired} snapshots expired, "
            f"{report.orphans_removed} orphan files removed"
        )


@app.command("dbt-manifest")
def dbt_manifest() -> None:
    """Parse the dbt project into $DATAPLAT_HOME/dbt-target/manifest.json, which the Airflow
    DAGs render from."""
    from transform.build import TransformError, dbt_manifest_path, run_dbt
    from transform.settings import TransformSettings

    settings = TransformSettings()
    try:
        run_dbt(settings, ["parse"])
    except TransformError as exc:
        _fail(str(exc))
    console.print(f"manifest: {dbt_manifest_path(settings)}")


@app.command()
def docs(
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the site over HTTP until stopped.")
    ] = False,
    host: Annotated[
        str, typer.Option(help="With --serve: the address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="With --serve: the port.")] = 8081,
) -> None:
    """Generate the dbt docs site (the analysts' map of models, columns, definitions and
    lineage to the API and the DAGs); with --serve, serve it (dbt docs serve)."""
    from transform.build import (
        NoRawDataError,
        TransformError,
        dbt_target_dir,
        refresh_raw_views,
        run_dbt,
    )
    from transform.settings import TransformSettings

    settings = TransformSettings()
    try:
        generate = ["docs", "generate"]
        if settings.engine == "duckdb":
            try:
                refresh_raw_views(settings)
            except NoRawDataError as exc:
                # Models, definitions and lineage need no data; column types do.
                console.print(f"[yellow]{exc}; the site has no column types until then[/]")
                generate.append("--empty-catalog")
        run_dbt(settings, generate)
        site = dbt_target_dir(settings) / "index.html"
        if not serve:
            console.print(f"docs: {site} (serve it with `dataplat docs --serve`)")
            return
        console.print(f"docs site: http://{host}:{port}/ (Ctrl-C stops it)")
        run_dbt(settings, ["docs", "serve", "--host", host, "--port", str(port), "--no-browser"])
    except TransformError as exc:
        _fail(str(exc))
    except OSError as exc:  # the port is taken, the address is not this machine's
        _fail(f"cannot serve the docs on {host}:{port} ({exc}); choose another with --port")


FromKafka = Annotated[
    str | None,
    typer.Option(help="Also read the broker: BOOTSTRAP servers, or 'default' for "
                 "DATAPLAT_KAFKA_BOOTSTRAP."),
]  # fmt: skip


def _loader_settings(from_kafka: str | None):
    from loader.settings import LoaderSettings

    settings = LoaderSettings()
    if from_kafka not in (None, "default"):
        settings = settings.model_copy(update={"kafka_bootstrap": from_kafka})
    return settings


@offsets_app.command("show")
def offsets_show(
    from_kafka: FromKafka = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Per topic-partition: what the raw tables hold and, with --from-kafka, what the broker
    holds, the lag, and any partition the loader cannot continue (exit status 1 then)."""
    import json

    from rich.table import Table

    from loader.partitions import OK, partition_states

    try:
        states = partition_states(_loader_settings(from_kafka), kafka=from_kafka is not None)
    except RuntimeError as exc:
        _fail(str(exc))
    if as_json:
        for state in states:
            print(json.dumps(state.as_dict()))
    else:
        table = Table("topic", "partition", "loaded through", "rejected through", "broker",
                      "lag", "state")  # fmt: skip
        for s in states:
            broker = "" if s.broker_latest is None else f"{s.broker_earliest}-{s.broker_latest}"
            lag = "" if s.lag is None else f"{s.lag:,}"
            style = "" if s.state == OK else "bold red"
            table.add_row(s.topic, str(s.partition), f"{s.loaded_through:,}",
                          f"{s.rejected_through:,}", broker, lag, s.state, style=style)  # fmt: skip
        Console().print(table)
    if bad := [s for s in states if s.state != OK]:
        for s in bad:
            console.print(
                f"[bold red]{s.topic}[{s.partition}][/]: {s.state}; decide where it resumes, "
                f"then `dataplat offsets rebase --topic {s.topic} --partition {s.partition} "
                "--to OFFSET` (loader stopped)"
            )
        raise typer.Exit(code=1)


@app.command()
def status(
    from_kafka: FromKafka = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """How fresh the platform is: per raw table the loader's last commit, the event-time
    watermark and today's rows; with --from-kafka the lag per topic-partition; per mart the
    build and the newest bucket. Exit status 1, with a line per cause, when something is
    stale past the DATAPLAT_STATUS_* bounds (for cron and Airflow)."""
    import json

    from api.settings import ApiSettings
    from dataplat.status import StatusSettings, gather

    settings = StatusSettings()
    if from_kafka not in (None, "default"):
        settings = settings.model_copy(update={"kafka_bootstrap": from_kafka})
    try:
        found = gather(settings, ApiSettings(), kafka=from_kafka is not None)
    except RuntimeError as exc:  # Kafka unreachable: the message names the fix
        _fail(str(exc))
    if as_json:
        print(json.dumps(found.as_dict()))
    else:
        _print_status(found)
    for problem in found.problems:
        console.print(f"[bold red]stale:[/] {problem}")
    if found.problems:
        raise typer.Exit(code=1)


def _print_status(found) -> None:
    from rich.table import Table

    def when(value) -> str:
        return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S %Z}"

    raw = Table("raw table", "last loader commit", "event-time watermark", "rows today (KST)",
                title="raw tables")  # fmt: skip
    for t in found.raw_tables:
        raw.add_row(t.table, when(t.last_commit), when(t.event_time_watermark), f"{t.rows_today:,}")
    out = Console()
    out.print(raw)
    if found.partitions is not None:
        lags = Table("topic", "partition", "loaded through", "broker end", "lag", "state",
                     title="Kafka")  # fmt: skip
        for p in found.partitions:
            lags.add_row(p.topic, str(p.partition), f"{p.loaded_through:,}",
                         "" if p.broker_latest is None else f"{p.broker_latest:,}",
                         "" if p.lag is None else f"{p.lag:,}", p.state)  # fmt: skip
        out.print(lags)
    marts = Table("mart", "published build", "newest bucket", title="marts")
    for m in found.marts:
        marts.add_row(m.mart, when(m.built_at), m.newest_bucket or "")
    out.print(marts)
    if not found.problems:
        out.print("[bold green]ok[/]: nothing stale")


@offsets_app.command("rebase")
def offsets_rebase(
    topic: Annotated[str, typer.Option(help="A contract topic, e.g. weblog.events.")],
    partition: Annotated[int, typer.Option(min=0)],
    to: Annotated[int, typer.Option(min=0, help="The offset the loader resumes at.")],
    from_kafka: FromKafka = None,
) -> None:
    """After an operator's decision: the loader resumes TOPIC[PARTITION] at offset TO (in its
    raw table and in rejected_messages). Stop the loader first; every record before TO is
    then taken as handled."""
    from loader.partitions import rebase

    try:
        previous = rebase(
            _loader_settings(from_kafka), topic, partition, to, kafka=from_kafka is not None
        )
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    before = ", ".join(f"{name} was at {offset}" for name, offset in previous.items())
    console.print(f"{topic}[{partition}] now resumes at {to} ({before})")


def _key_store():
    from api.keys import KeyStore
    from api.settings import ApiSettings

    return KeyStore(ApiSettings().auth_db_uri)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(help="platform:read, mall:<id>:read or crm:<id>:read; repeat for more."),
    ],
) -> None:
    """Create a key; its token is printed once (stdout) and only its hash is kept."""
    from api.keys import InvalidScope

    try:
        key, token = _key_store().create(name, scope)
    except InvalidScope as exc:
        _fail(str(exc))
    console.print(f"key {key.key_id} ({name}): {' '.join(sorted(key.scopes))}")
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key with its scopes and state (never the token)."""
    for key in _key_store().list():
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        print(f"{key.key_id}\t{key.name}\t{state}\t{' '.join(sorted(key.scopes))}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from `keys list`.")],
) -> None:
    """Revoke a key: its token stops working at once."""
    if not _key_store().revoke(key_id):
        _fail(f"no active key {key_id!r}; see `dataplat keys list`")
    console.print(f"key {key_id} revoked")


def _serve(host: str | None, port: int | None, workers: int | None = None) -> None:
    import uvicorn

    from api.settings import ApiSettings

    settings = ApiSettings(**({"api_workers": workers} if workers else {}))
    host, port = host or settings.api_host, port or settings.api_port
    console.print(f"API on http://{host}:{port} (OpenAPI docs: http://{host}:{port}/docs)")
    if settings.api_workers == 1:
        from api.main import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
        return
    from lakehouse.logging import configured

    # The workers are new processes (api.main.create_worker_app): they read their settings,
    # logging included, from the environment, and write their metrics to one fresh folder.
    with tempfile.TemporaryDirectory(prefix="dataplat-api-metrics-") as metrics_dir:
        os.environ.update(configured, PROMETHEUS_MULTIPROC_DIR=metrics_dir,
                          DATAPLAT_API_WORKERS=str(settings.api_workers))  # fmt: skip
        console.print(f"{settings.api_workers} worker processes; rate limits shared in "
                      f"{settings.rate_limit_db_path}")  # fmt: skip
        uvicorn.run("api.main:create_worker_app", factory=True, workers=settings.api_workers,
                    host=host, port=port, log_config=None)  # fmt: skip


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: DATAPLAT_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: DATAPLAT_API_PORT.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes answering requests. Default: DATAPLAT_API_WORKERS, 1."),
    ] = None,
) -> None:
    """Serve the marts over HTTP."""
    _serve(host, port, workers)


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1)] = 3,
    events_per_day: Annotated[int, typer.Option(min=1)] = 200_000,
    malls: Annotated[int, typer.Option(min=1)] = 50,
    seed: Annotated[int, typer.Option()] = 42,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API at the end.")
    ] = True,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Generate → ingest → transform → serve: the whole embedded pipeline in one go."""
    from api.settings import ApiSettings

    settings = ApiSettings()
    generated = settings.home / "generated"
    console.rule("1/4 generate")
    generate(generated, days=days, events_per_day=events_per_day, malls=malls, seed=seed)
    console.rule("2/4 ingest")
    ingest(from_dir=generated)
    console.rule("3/4 transform")
    transform(full_refresh=False, select=None)
    _, token = _key_store().create(
        "demo", ["platform:read", *(f"crm:{mall}:read" for mall in range(1, malls + 1))]
    )
    console.print(f"demo API key (platform:read and crm of every mall): [bold]{token}[/]")
    console.print(
        f"try: curl -H 'Authorization: Bearer {token}' "
        f"'http://{settings.api_host}:{port or settings.api_port}/analytics/visitors/daily"
        "?start=2026-01-30&end=2026-02-01'"
    )
    if serve_api:
        console.rule("4/4 serve")
        _serve(None, port)


if __name__ == "__main__":
    app()
