"""The loader on real Iceberg tables (SQLite catalog, local files): faults, re-runs, crashes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from lakehouse.catalog import open_catalog
from lakehouse.offsets import read_event_time_watermark, read_watermarks
from lakehouse.settings import MaintenanceSettings
from loader.service import ingest_files
from loader.settings import LoaderSettings as Settings
from tests.kcat import cdc_change, envelope_line, weblog_event, write_dump

WEBLOG = "weblog.events"


def scan(settings: Settings, table: str):
    return open_catalog(settings).load_table(f"raw.{table}").scan().to_arrow()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def faulty_weblog_dump(directory: Path) -> dict[int, str]:
    """Writes one record per contract fault; returns the expected reason code by offset."""
    payloads: list[tuple[str | bytes | None, str | None]] = [
        (weblog_event("e-1", "2026-01-30T13:00:01.123+09:00"), None),
        (weblog_event("e-1", "2026-01-30T13:00:01.123+09:00"), None),  # producer retry
        (weblog_event("e-2", "2026-01-30T04:00:01Z", utm_source="mail"), None),  # new field
        ("{not json", "invalid_json"),
        (b'{"event_id": "e-3", "url": "/\xff\xfe"}', "invalid_utf8"),
        (json.dumps({"event_time": "2026-01-30T04:00:01Z", "mall_id": 1}), "missing_field"),
        (json.dumps({"event_id": "e-4", "mall_id": 1}), "missing_field"),
        (json.dumps({"event_id": "e-5", "event_time": "2026-01-30T04:00:01Z"}), "missing_field"),
        (weblog_event("e-6", "2026-02-30T25:61:00+09:00"), "invalid_time"),
        (weblog_event("e-7", "yesterday"), "invalid_time"),
        (weblog_event("e-8", "2026-01-30T13:00:01"), "invalid_time"),  # no offset
        (weblog_event("e-9", "2026-01-30T13:00:01+09:00", mall_id="7"), "invalid_type"),
        ("[1, 2]", "invalid_json"),
        (None, "empty_value"),
    ]
    write_dump(
        directory / f"{WEBLOG}.jsonl",
        [envelope_line(WEBLOG, 0, offset, p, key="v-1") for offset, (p, _) in enumerate(payloads)],
    )
    return {offset: reason for offset, (_, reason) in enumerate(payloads) if reason}


def test_every_broken_message_is_kept_aside_with_its_reason(settings: Settings, tmp_path: Path):
    expected = faulty_weblog_dump(tmp_path / "in")
    stats = ingest_files(settings, tmp_path / "in", show_progress=False)

    rejected = scan(settings, "rejected_messages").sort_by("offset").to_pylist()
    assert {r["offset"]: r["reason"].split(":")[0] for r in rejected} == expected
    assert stats.rejected == len(expected)
    # The exact original bytes are kept, including bytes that are not UTF-8.
    invalid_utf8 = next(r for r in rejected if r["offset"] == 4)
    assert invalid_utf8["value"] == b'{"event_id": "e-3", "url": "/\xff\xfe"}'
    assert next(r for r in rejected if r["offset"] == 13)["value"] is None

    events = scan(settings, "weblog_events").sort_by("_kafka_offset").to_pylist()
    assert [e["event_id"] for e in events] == ["e-1", "e-1", "e-2"]  # raw keeps every delivery
    # KST and UTC offsets both normalise to the same UTC instant.
    assert events[0]["event_time"].isoformat() == "2026-01-30T04:00:01.123000+00:00"
    assert events[2]["event_time"].isoformat() == "2026-01-30T04:00:01+00:00"
    assert json.loads(events[2]["payload"])["utm_source"] == "mail"  # added fields are kept
    assert events[0]["_kafka_key"] == "v-1"


def test_cdc_changes_tombstones_and_redeliveries(settings: Settings, tmp_path: Path):
    row = {"id": 5, "mall_id": 1, "status": "pending", "total_amount": 30000}
    lines = [
        envelope_line("shop.orders", 0, 0, cdc_change("c", None, row, 10, "orders"), '{"id": 5}'),
        envelope_line("shop.orders", 0, 1, cdc_change("c", None, row, 10, "orders"), '{"id": 5}'),
        envelope_line("shop.orders", 0, 2, cdc_change("d", row, None, 11, "orders"), '{"id": 5}'),
        envelope_line("shop.orders", 0, 3, None, '{"id": 5}'),  # tombstone
        envelope_line("shop.orders", 0, 4, "garbage", '{"id": 6}'),
        envelope_line("shop.orders", 0, 5, cdc_change("x", None, row, 12, "orders"), '{"id": 5}'),
    ]
    write_dump(tmp_path / "in" / "shop.orders.jsonl", lines)
    stats = ingest_files(settings, tmp_path / "in", show_progress=False)

    changes = scan(settings, "shop_orders").sort_by("_kafka_offset").to_pylist()
    assert [(c["id"], c["op"], c["source_pos"]) for c in changes] == [
        (5, "c", 10),
        (5, "c", 10),
        (5, "d", 11),
    ]
    assert json.loads(changes[0]["after"]) == row
    assert changes[2]["after"] is None and json.loads(changes[2]["before"]) == row
    assert stats.tombstones == 1
    reasons = {r["offset"]: r["reason"] for r in scan(settings, "rejected_messages").to_pylist()}
    assert reasons[4].startswith("invalid_json")
    assert reasons[5].startswith("invalid_op")


def test_rerun_on_the_same_files_loads_nothing_twice(settings: Settings, tmp_path: Path):
    faulty_weblog_dump(tmp_path / "in")
    first = ingest_files(settings, tmp_path / "in", show_progress=False)
    second = ingest_files(settings, tmp_path / "in", show_progress=False)
    assert first.rows == {"rejected_messages": 11, "weblog_events": 3}
    assert second.rows == {}
    assert second.skipped_already_loaded == second.records == first.records
    assert scan(settings, "weblog_events").num_rows == 3
    assert scan(settings, "rejected_messages").num_rows == 11


def test_crash_between_the_two_commits_of_a_batch(settings: Settings, tmp_path: Path):
    """rejected_messages committed, weblog_events not: the restart completes without duplicates."""
    faulty_weblog_dump(tmp_path / "in")

    class Crash(RuntimeError):
        pass

    def crash_before_weblog(table: str) -> None:
        if table == "weblog_events":
            raise Crash

    with pytest.raises(Crash):
        ingest_files(
            settings, tmp_path / "in", show_progress=False, before_commit=crash_before_weblog
        )
    assert scan(settings, "rejected_messages").num_rows == 11
    assert scan(settings, "weblog_events").num_rows == 0

    ingest_files(settings, tmp_path / "in", show_progress=False)
    assert scan(settings, "rejected_messages").num_rows == 11
    assert scan(settings, "weblog_events").num_rows == 3


def test_records_read_again_while_their_commit_is_in_flight_land_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Commits run in the sink's commit thread while the next batches are read and converted.
    A dump read twice over (two overlapping dumps concatenated) brings each record back while
    the commit of its first copy may still be running: it is dropped all the same, rejected
    records too, and commits are made one at a time, in order."""
    import threading

    import loader.service
    from loader.file_source import read_dump_batches

    lines = [
        envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
        for o in range(2)
    ] + [envelope_line(WEBLOG, 0, 2, "{not json")]
    # A commit every 3 records: the copies come in the batches right after the first commit.
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", lines + lines)
    events: list[tuple[str, float, str]] = []

    def slow_commit(table: str) -> None:
        events.append(("commit starts", time.perf_counter(), threading.current_thread().name))
        time.sleep(0.3)

    def batches(path: Path, chunk_bytes: int):
        for batch, position in read_dump_batches(path, chunk_bytes):
            events.append(("batch read", time.perf_counter(), threading.current_thread().name))
            yield batch, position

    monkeypatch.setattr(loader.service, "read_dump_batches", batches)
    stats = ingest_files(
        settings.model_copy(update={"batch_records": 3, "dump_chunk_bytes": 1}),  # a line a batch
        tmp_path / "in",
        show_progress=False,
        before_commit=slow_commit,
    )
    assert sorted(scan(settings, "weblog_events")["_kafka_offset"].to_pylist()) == [0, 1]
    assert scan(settings, "rejected_messages")["offset"].to_pylist() == [2]
    assert stats.rows == {"weblog_events": 2, "rejected_messages": 1}
    assert stats.skipped_already_loaded == 3
    commits = [(t, thread) for kind, t, thread in events if kind == "commit starts"]
    assert {thread for _, thread in commits} == {"iceberg-commit_0"}
    reads = [t for kind, t, _ in events if kind == "batch read"]
    assert any(start < read < start + 0.3 for start, _ in commits for read in reads), (
        "no batch was read while a commit ran"
    )


def test_watermarks_resume_after_appended_records(settings: Settings, tmp_path: Path):
    """A dump that grew since the last run: only the new tail is loaded."""
    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    lines = [
        envelope_line(WEBLOG, p, o, weblog_event(f"e-{p}-{o}", "2026-01-30T04:00:01Z"))
        for o in range(5)
        for p in range(2)
    ]
    write_dump(path, lines[:6])
    ingest_files(settings, tmp_path / "in", show_progress=False)
    write_dump(path, lines)
    stats = ingest_files(settings, tmp_path / "in", show_progress=False)
    assert stats.rows == {"weblog_events": 4}
    events = scan(settings, "weblog_events")
    assert events.num_rows == 10
    assert sorted(pc.unique(events["event_id"]).to_pylist()) == sorted(
        f"e-{p}-{o}" for o in range(5) for p in range(2)
    )


def test_weblog_files_are_partitioned_by_utc_day_of_event_time(settings: Settings, tmp_path: Path):
    times = ["2026-01-30T23:59:59+09:00", "2026-01-31T00:00:00+09:00", "2026-01-31T15:00:00Z"]
    write_dump(
        tmp_path / "in" / f"{WEBLOG}.jsonl",
        [envelope_line(WEBLOG, 0, i, weblog_event(f"e-{i}", t)) for i, t in enumerate(times)],
    )
    ingest_files(settings, tmp_path / "in", show_progress=False)
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert [f.name for f in table.spec().fields] == ["event_time_day"]
    files = table.inspect.files().to_pylist()
    days = sorted((f["partition"]["event_time_day"], f["record_count"]) for f in files)
    # 23:59:59 KST and 00:00 KST are both 2026-01-30 in UTC; 15:00Z is the 31st.
    assert [(str(day), count) for day, count in days] == [("2026-01-30", 2), ("2026-01-31", 1)]


def test_event_time_watermark_is_committed_with_the_data(settings: Settings, tmp_path: Path):
    """Schedulers read the newest committed event time; a late event never moves it back."""
    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    times = ["2026-01-30T13:00:00+09:00", "2026-01-30T05:30:00Z", "2026-01-30T01:00:00Z"]
    lines = [envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", t)) for o, t in enumerate(times)]
    write_dump(path, lines[:2])
    ingest_files(settings, tmp_path / "in", show_progress=False)
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert read_event_time_watermark(table) == datetime(2026, 1, 30, 5, 30, tzinfo=UTC)

    write_dump(path, lines)  # a late event, older than the watermark
    ingest_files(settings, tmp_path / "in", show_progress=False)
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert read_event_time_watermark(table) == datetime(2026, 1, 30, 5, 30, tzinfo=UTC)


def test_an_append_survives_maintenance_committing_under_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Maintenance commits a compaction and expires every older snapshot but the loader's
    tagged newest one (the one the append started from) between the append's start and its
    commit (injected at the catalog's commit, not left to timing). The loader reloads, checks
    that the offsets are still its own, and commits again: every record lands once."""
    from pyiceberg.catalog.sql import SqlCatalog

    from lakehouse.maintenance import maintain_embedded

    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    lines = [
        envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
        for o in range(12)
    ]
    # Four commits, four small files in one partition: something for compaction to rewrite.
    for end in (2, 4, 6, 8):
        write_dump(path, lines[:end])
        ingest_files(settings, path.parent, show_progress=False)
    write_dump(path, lines)

    maintenance = MaintenanceSettings(
        home=settings.home, compaction_min_files=2, snapshot_retention_hours=1 / 3600
    )
    original_commit = SqlCatalog.commit_table
    interference: dict[str, object] = {}

    def maintenance_commits_first(catalog, table, requirements, updates):
        if table.name() == ("raw", "weblog_events") and not interference:
            interference["started_from"] = table.metadata.current_snapshot_id
            time.sleep(1.1)  # older than the one-second retention
            interference["reports"] = maintain_embedded(maintenance, ["raw.weblog_events"])
        return original_commit(catalog, table, requirements, updates)

    monkeypatch.setattr(SqlCatalog, "commit_table", maintenance_commits_first)
    stats = ingest_files(settings, path.parent, show_progress=False)
    monkeypatch.undo()

    report = interference["reports"][0]
    assert report.files_compacted == 4 and report.snapshots_expired == 3
    table = open_catalog(settings).load_table("raw.weblog_events")
    started_from = table.metadata.snapshot_by_id(interference["started_from"])
    assert (
        started_from is not None
        and started_from.snapshot_id != table.metadata.refs["dataplat-loader-offsets"].snapshot_id
    ), "kept while tagged; the tag moved on with the retried commit"
    assert stats.rows == {"weblog_events": 4}
    events = scan(settings, "weblog_events")
    assert sorted(events["_kafka_offset"].to_pylist()) == list(range(12))
    assert read_watermarks(table) == {(WEBLOG, 0): 12}
    # pyiceberg's own retry setting never reaches the catalog.
    assert "commit.retry.num-retries" not in table.metadata.properties


def test_a_second_loader_committing_in_between_stops_the_first(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Another loader lands the same records between this append's start and its commit:
    the retry sees offsets it did not write and stops, rather than landing them twice."""
    from pyiceberg.catalog.sql import SqlCatalog

    from loader.coordinator import LoaderConflict

    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    write_dump(path, [envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
                      for o in range(4)])  # fmt: skip
    original_commit = SqlCatalog.commit_table
    other_loader_ran: list[bool] = []

    def other_loader_commits_first(catalog, table, requirements, updates):
        if table.name() == ("raw", "weblog_events") and not other_loader_ran:
            other_loader_ran.append(True)
            ingest_files(settings, path.parent, show_progress=False)
        return original_commit(catalog, table, requirements, updates)

    monkeypatch.setattr(SqlCatalog, "commit_table", other_loader_commits_first)
    with pytest.raises(LoaderConflict, match="another loader"):
        ingest_files(settings, path.parent, show_progress=False)
    monkeypatch.undo()
    assert sorted(scan(settings, "weblog_events")["_kafka_offset"].to_pylist()) == [0, 1, 2, 3]


# ---------------------------------------------------------------------- hostile records
# Each case is a record a real producer can send; each must land with its exact value or be
# kept aside with a reason naming the field, and the loader must finish.

HUGE = {"2^63": 2**63, "2^64": 2**64, "2^70": 2**70, "-2^63-1": -(2**63) - 1}


def hostile_weblog_cases() -> list[tuple[str, str, str]]:
    """(case, payload, reason prefix) for weblog events."""
    cases = []
    for field in ("mall_id", "member_id", "product_id", "order_id"):
        for label, number in HUGE.items():
            payload = weblog_event("e", "2026-01-30T04:00:01Z", **{field: number})
            cases.append((f"{field}={label}", payload, f"out_of_range: {field}"))
    for label, time_text in {
        "year 0": "0000-01-30T04:00:01Z",
        "year 10000 in UTC": "9999-12-31T23:59:59-14:00",
        "offset +99:00": "2026-01-30T04:00:01+99:00",
        "offset -24:00": "2026-01-30T04:00:01-24:00",
        "minutes 60": "2026-01-30T04:00:01+09:60",
    }.items():
        cases.append((label, weblog_event("e", time_text), "invalid_time: event_time"))
    return cases


@pytest.mark.parametrize(
    ("payload", "reason"),
    [pytest.param(p, r, id=c) for c, p, r in hostile_weblog_cases()],
)
def test_hostile_weblog_numbers_and_times_are_rejected_with_the_field(
    settings: Settings, tmp_path: Path, payload: str, reason: str
):
    good = weblog_event("ok", "2026-01-30T04:00:02Z", member_id=2**63 - 1)
    lines = [envelope_line(WEBLOG, 0, 0, payload), envelope_line(WEBLOG, 0, 1, good)]
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", lines)
    ingest_files(settings, tmp_path / "in", show_progress=False)
    (rejected,) = scan(settings, "rejected_messages").to_pylist()
    assert rejected["offset"] == 0 and rejected["reason"].startswith(reason), rejected["reason"]
    (event,) = scan(settings, "weblog_events").to_pylist()
    assert event["member_id"] == 2**63 - 1  # the largest 64-bit value lands exactly


@pytest.mark.parametrize(
    ("field", "number", "reason"),
    [
        ("source.pos", 2**63, "out_of_range: source.pos"),
        ("source.pos", 2**64, "out_of_range: source.pos"),
        ("source.row", 2**31, "out_of_range: source.row"),
        ("ts_ms", 2**63, "out_of_range: ts_ms"),
        ("source.ts_ms", -(2**63) - 1, "out_of_range: source.ts_ms"),
        ("key id", 2**63, "out_of_range: id"),
        ("row id", 2**64, "out_of_range: id"),
    ],
)
def test_hostile_cdc_integers_are_rejected_with_the_field(
    settings: Settings, tmp_path: Path, field: str, number: int, reason: str
):
    envelope = json.loads(cdc_change("c", None, {"id": 5, "mall_id": 1}, 10, "orders"))
    key = '{"id": 5}'
    if field == "key id":
        key = json.dumps({"id": number})
    elif field == "row id":
        key, envelope["after"]["id"] = None, number
    elif field.startswith("source."):
        envelope["source"][field.removeprefix("source.")] = number
    else:
        envelope[field] = number
    good = cdc_change("c", None, {"id": 6, "mall_id": 1}, 11, "orders")
    write_dump(tmp_path / "in" / "shop.orders.jsonl", [
        envelope_line("shop.orders", 0, 0, json.dumps(envelope), key),
        envelope_line("shop.orders", 0, 1, good, '{"id": 6}'),
    ])  # fmt: skip
    ingest_files(settings, tmp_path / "in", show_progress=False)
    (rejected,) = scan(settings, "rejected_messages").to_pylist()
    assert rejected["offset"] == 0 and rejected["reason"].startswith(reason), rejected["reason"]
    assert [row["id"] for row in scan(settings, "shop_orders").to_pylist()] == [6]


@pytest.mark.parametrize("ts", [2**62, -(2**62), 253_402_300_800_000])
def test_a_kafka_timestamp_no_engine_holds_is_stored_as_null_with_the_record(
    settings: Settings, tmp_path: Path, ts: int
):
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", [
        envelope_line(WEBLOG, 0, 0, weblog_event("e", "2026-01-30T04:00:01Z"), ts=ts),
        envelope_line(WEBLOG, 0, 1, "{broken", ts=ts),
    ])  # fmt: skip
    write_dump(tmp_path / "in" / "shop.orders.jsonl", [envelope_line(
        "shop.orders", 0, 0, cdc_change("c", None, {"id": 5}, 10, "orders"), '{"id": 5}', ts=ts
    )])  # fmt: skip
    ingest_files(settings, tmp_path / "in", show_progress=False)
    assert [e["_kafka_timestamp"] for e in scan(settings, "weblog_events").to_pylist()] == [None]
    assert [e["_kafka_timestamp"] for e in scan(settings, "shop_orders").to_pylist()] == [None]
    assert [r["kafka_timestamp"] for r in scan(settings, "rejected_messages").to_pylist()] == [None]


def test_a_future_event_lands_but_never_moves_the_event_time_watermark(
    settings: Settings, tmp_path: Path
):
    """Sensors trust the watermark to say a period is loaded: one event stamped in 2999 (a
    skewed producer clock) must not declare every period up to 2999 complete."""
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", [
        envelope_line(WEBLOG, 0, 0, weblog_event("now", "2026-01-30T04:00:01Z")),
        envelope_line(WEBLOG, 0, 1, weblog_event("future", "2999-01-30T04:00:01Z")),
    ])  # fmt: skip
    ingest_files(settings, tmp_path / "in", show_progress=False)
    assert scan(settings, "weblog_events").num_rows == 2
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert read_event_time_watermark(table) == datetime(2026, 1, 30, 4, 0, 1, tzinfo=UTC)


def test_the_same_coordinates_twice_in_one_dump_land_once(settings: Settings, tmp_path: Path):
    """Two overlapping kcat dumps concatenated: the overlap is the same records again."""
    lines = [
        envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
        for o in range(6)
    ] + [envelope_line(WEBLOG, 0, 6, "{broken")]
    cdc = [
        envelope_line("shop.orders", 0, o, cdc_change("c", None, {"id": o}, o, "orders"),
                      json.dumps({"id": o}))
        for o in range(4)
    ]  # fmt: skip
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", lines[:5] + lines[2:] + lines[4:])
    write_dump(tmp_path / "in" / "shop.orders.jsonl", cdc + cdc[1:])
    stats = ingest_files(settings, tmp_path / "in", show_progress=False)
    assert sorted(scan(settings, "weblog_events")["_kafka_offset"].to_pylist()) == list(range(6))
    assert sorted(scan(settings, "shop_orders")["_kafka_offset"].to_pylist()) == list(range(4))
    assert scan(settings, "rejected_messages")["offset"].to_pylist() == [6]
    assert stats.skipped_already_loaded == 6 + 3  # every repeated record
    assert stats.rejected == 1


def test_messages_of_many_megabytes_and_deep_nesting_land_or_are_rejected(
    settings: Settings, tmp_path: Path
):
    """A 20 MB dump line (past the JSON reader's block), JSON nested 2,000 levels deep in a
    weblog payload and in a CDC row: the ingest finishes, every record in one place."""
    deep = "[" * 2000 + "]" * 2000
    weblog = [
        weblog_event("big", "2026-01-30T04:00:01Z", url="/" + "x" * 20_000_000),
        weblog_event("deep", "2026-01-30T04:00:01Z").replace('"ip"', f'"deep": {deep}, "ip"'),
    ]
    cdc = [
        cdc_change("c", None, {"id": 5, "note": "x" * 5_000_000}, 10, "orders"),
        cdc_change("c", None, {"id": 6}, 11, "orders").replace('"op"', f'"deep": {deep}, "op"'),
    ]
    weblog_lines = [envelope_line(WEBLOG, 0, o, p) for o, p in enumerate(weblog)]
    cdc_lines = [envelope_line("shop.orders", 0, o, p, '{"id": 5}') for o, p in enumerate(cdc)]
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", weblog_lines)
    write_dump(tmp_path / "in" / "shop.orders.jsonl", cdc_lines)
    ingest_files(settings, tmp_path / "in", show_progress=False)
    events = scan(settings, "weblog_events").sort_by("_kafka_offset")
    assert events["event_id"].to_pylist() == ["big", "deep"]
    assert len(events["url"][0].as_py()) == 20_000_001
    assert scan(settings, "shop_orders")["_kafka_offset"].to_pylist() == [0]
    (rejected,) = scan(settings, "rejected_messages").to_pylist()
    assert (rejected["topic"], rejected["offset"]) == ("shop.orders", 1)
    assert rejected["reason"].startswith("invalid_json") and "depth" in rejected["reason"]


@pytest.mark.parametrize("chunk_bytes", [1, 300, 70_000, 32 << 20])
def test_a_dump_read_in_chunks_of_any_size_lands_each_record_once(
    settings: Settings, tmp_path: Path, chunk_bytes: int
):
    """Chunks end where a line ends past ``chunk_bytes``, read into one buffer the reader
    reuses: lines far longer than a chunk or than a read, non-UTF-8 lines (blanked in the
    buffer, parsed apart) beside them, and a last line without its newline. Every record lands
    or is rejected once, with the bytes it had."""
    events = [
        weblog_event(f"e-{o}", "2026-01-30T04:00:01Z", url="/" + "x" * (o % 3) * 100_000)
        for o in range(9)
    ]
    odd = {2: b'{"event_id": "e-2", "url": "/\xff"}', 7: b"\xfe" * 200_000}
    lines = [envelope_line(WEBLOG, 0, o, odd.get(o, e)) for o, e in enumerate(events)]
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl", [*lines[:-1], lines[-1].rstrip(b"\n")])
    settings = settings.model_copy(update={"dump_chunk_bytes": chunk_bytes})

    stats = ingest_files(settings, tmp_path / "in", show_progress=False)

    assert (stats.records, stats.rejected) == (9, 2)
    landed = scan(settings, "weblog_events").sort_by("_kafka_offset")
    offsets = [0, 1, 3, 4, 5, 6, 8]
    assert landed["_kafka_offset"].to_pylist() == offsets
    assert [len(u) for u in landed["url"].to_pylist()] == [1 + o % 3 * 100_000 for o in offsets]
    rejected = scan(settings, "rejected_messages").sort_by("offset").to_pylist()
    assert [(r["offset"], r["value"]) for r in rejected] == [(2, odd[2]), (7, odd[7])]
    assert all(r["reason"].startswith("invalid_utf8") for r in rejected)


def test_commits_are_bounded_by_message_bytes_as_well_as_records(
    settings: Settings, tmp_path: Path
):
    """60 MB of 1.5 MB messages with a 8 MB byte bound: several commits, not one, though the
    record bound (500,000) is far away."""
    big = [weblog_event(f"e-{o}", "2026-01-30T04:00:01Z", url="/" + "x" * 1_500_000)
           for o in range(40)]  # fmt: skip
    write_dump(tmp_path / "in" / f"{WEBLOG}.jsonl",
               [envelope_line(WEBLOG, 0, o, p) for o, p in enumerate(big)])  # fmt: skip
    bounded = settings.model_copy(update={"batch_bytes": 8 << 20})
    ingest_files(bounded, tmp_path / "in", show_progress=False)
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert len(table.metadata.snapshots) >= 2
    assert sorted(scan(settings, "weblog_events")["_kafka_offset"].to_pylist()) == list(range(40))


def test_offsets_show_and_an_operators_rebase(tmp_path: Path):
    """`dataplat offsets show` lists what the raw tables hold; `dataplat offsets rebase` moves
    a partition on after an operator's decision (records 5-7 gone for good): the next ingest
    lands only what follows, and the loader's other snapshot properties survive."""
    from tests.conftest import run_cli

    env = {"DATAPLAT_HOME": str(tmp_path / "home")}
    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    lines = [
        envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", f"2026-01-30T04:00:0{o}Z"))
        for o in range(10)
    ]
    write_dump(path, lines[:5])
    run_cli("ingest", "--from-dir", str(path.parent), env=env)
    shown = run_cli("offsets", "show", "--json", env=env)
    (state,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert (state["topic"], state["partition"], state["loaded_through"]) == (WEBLOG, 0, 5)
    assert state["state"] == "ok"

    moved = run_cli("offsets", "rebase", "--topic", WEBLOG, "--partition", "0", "--to", "8",
                    env=env)  # fmt: skip
    assert "now resumes at 8" in moved.stderr
    write_dump(path, lines)
    run_cli("ingest", "--from-dir", str(path.parent), env=env)
    settings = Settings(home=tmp_path / "home")
    assert sorted(scan(settings, "weblog_events")["event_id"].to_pylist()) == [
        *(f"e-{o}" for o in range(5)),
        "e-8",
        "e-9",
    ]
    table = open_catalog(settings).load_table("raw.weblog_events")
    assert read_watermarks(table) == {(WEBLOG, 0): 10}
    assert read_event_time_watermark(table) == datetime(2026, 1, 30, 4, 0, 9, tzinfo=UTC)

    unknown = run_cli("offsets", "rebase", "--topic", "nope", "--partition", "0", "--to", "1",
                      env=env, check=False)  # fmt: skip
    assert unknown.returncode == 1 and "unknown topic 'nope'" in unknown.stderr


def test_the_loaders_newest_snapshot_survives_any_expiry(settings: Settings, tmp_path: Path):
    """The loader tags its newest snapshot in the commit that makes it. Another writer's
    snapshot without offsets (as Trino's optimize commits) and then an expiry of everything
    but the current snapshot cut the chain of ancestors; the tagged snapshot stays, and the
    offsets read through the tag are the ones committed."""
    from datetime import timedelta

    from lakehouse.maintenance import expire_snapshots
    from lakehouse.offsets import OFFSETS_TAG, tagged_snapshot

    path = tmp_path / "in" / f"{WEBLOG}.jsonl"
    lines = [envelope_line(WEBLOG, 0, o, weblog_event(f"e-{o}", "2026-01-30T04:00:01Z"))
             for o in range(6)]  # fmt: skip
    for end in (2, 4, 6):
        write_dump(path, lines[:end])
        ingest_files(settings, path.parent, show_progress=False)
    table = open_catalog(settings).load_table("raw.weblog_events")
    newest = table.current_snapshot()
    assert tagged_snapshot(table).snapshot_id == newest.snapshot_id
    assert read_watermarks(table) == {(WEBLOG, 0): 6}

    table.append(table.schema().as_arrow().empty_table())  # no offsets: not the loader's
    expired = expire_snapshots(table, timedelta(0), datetime.now(UTC) + timedelta(seconds=1))
    table = table.refresh()
    assert expired == 2
    remaining = {s.snapshot_id for s in table.metadata.snapshots}
    assert remaining == {table.current_snapshot().snapshot_id, newest.snapshot_id}
    assert table.metadata.refs[OFFSETS_TAG].snapshot_id == newest.snapshot_id
    assert table.current_snapshot().parent_snapshot_id == newest.snapshot_id
    # A second snapshot without offsets, then expiry: the current one's parent is gone.
    table.append(table.schema().as_arrow().empty_table())
    expire_snapshots(table, timedelta(0), datetime.now(UTC) + timedelta(seconds=1))
    table = table.refresh()
    parent = table.current_snapshot().parent_snapshot_id
    assert parent not in {s.snapshot_id for s in table.metadata.snapshots}, "ancestry cut"
    assert read_watermarks(table) == {(WEBLOG, 0): 6}

    # The loader resumes from the tag: nothing is read twice.
    stats = ingest_files(settings, path.parent, show_progress=False)
    assert stats.skipped_already_loaded == 6 and sum(stats.rows.values()) == 0
