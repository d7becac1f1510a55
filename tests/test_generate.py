"""The generator: kcat envelopes, determinism, and every producer fault of topics.md, counted."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from sampledata.generate import REFERRERS, TOPICS, VARIED_REFERRERS, generate
from tests.reference import load_events, visitor_loyalty
from tests.reference_shop import readable


def read_records(directory: Path, topic: str) -> list[dict]:
    lines = (directory / f"{topic}.jsonl").read_bytes().splitlines()
    return [json.loads(line.decode("utf-8", "surrogateescape")) for line in lines]


def parsed(payload: str | None) -> dict | None:
    """The JSON object of a valid payload; None for tombstones and broken messages."""
    try:
        doc = json.loads(payload.encode("utf-8")) if payload is not None else None
    except (ValueError, UnicodeEncodeError):
        return None
    return doc if isinstance(doc, dict) else None


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen") / "topics"
    manifest = generate(out, days=2, events_per_day=30_000, malls=10, seed=3, progress=False)
    return out, manifest


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, generated):
    out, _ = generated
    again = tmp_path / "again"
    generate(again, days=2, events_per_day=30_000, malls=10, seed=3, progress=False)
    for topic in TOPICS:
        assert (again / f"{topic}.jsonl").read_bytes() == (out / f"{topic}.jsonl").read_bytes()
    other = tmp_path / "other"
    generate(other, days=2, events_per_day=30_000, malls=10, seed=4, progress=False)
    assert (other / "weblog.events.jsonl").read_bytes() != (
        out / "weblog.events.jsonl"
    ).read_bytes()


def test_every_line_is_a_kcat_envelope_with_contiguous_offsets(generated):
    out, manifest = generated
    for topic in TOPICS:
        records = read_records(out, topic)
        assert len(records) == manifest["records"][topic]
        offsets = defaultdict(list)
        for record in records:
            assert set(record) == {
                "topic",
                "partition",
                "offset",
                "tstype",
                "ts",
                "broker",
                "key",
                "payload",
            }
            assert record["topic"] == topic and record["tstype"] == "create"
            offsets[record["partition"]].append(record["offset"])
        assert sorted(offsets) == list(range(manifest["partitions"][topic]))
        for partition_offsets in offsets.values():
            assert partition_offsets == list(range(len(partition_offsets)))


def test_weblog_faults_are_present_and_counted_exactly(generated):
    out, manifest = generated
    payloads = Counter()
    kinds = Counter()
    offsets = Counter()
    late = 0
    referrers: Counter = Counter()
    for record in read_records(out, "weblog.events"):
        payload = record["payload"]
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError:
            kinds["invalid_utf8"] += 1
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            kinds["invalid_json"] += 1
            continue
        for field in ("event_id", "event_time", "mall_id"):
            if field not in event:
                kinds[f"missing_{field}"] += 1
                break
        else:
            try:
                at = datetime.fromisoformat(event["event_time"])
            except ValueError:
                kinds["invalid_time"] += 1
                continue
            payloads[payload] += 1
            offsets["Z" if event["event_time"].endswith("Z") else "+09:00"] += 1
            if record["ts"] - at.timestamp() * 1000 > 3_600_000:
                late += 1
            offsets["new_fields"] += "utm_source" in event
            referrers[event.get("referrer")] += 1
    assert kinds == Counter(manifest["weblog_broken"])
    assert set(kinds) == {"invalid_json", "invalid_utf8", "missing_event_id",
                          "missing_event_time", "missing_mall_id", "invalid_time"}  # fmt: skip
    assert len(payloads) == manifest["weblog_valid_events"]
    assert sum(payloads.values()) - len(payloads) == manifest["weblog_duplicates"] > 0
    assert late >= manifest["weblog_late"] > 0
    # Duplicated deliveries count their offset once per copy.
    assert offsets["Z"] > 0 and offsets["+09:00"] > 0
    assert offsets["new_fields"] > 0
    # Referrers of every kind the traffic sources tell apart, and none at all.
    assert set(VARIED_REFERRERS) | set(REFERRERS) | {None} == set(referrers)
    varied = sum(n for r, n in referrers.items() if r in VARIED_REFERRERS)
    assert varied >= manifest["weblog_varied_referrers"] > 0


def test_cdc_envelopes_tombstones_redeliveries_and_orders_behind_purchases(generated):
    out, manifest = generated
    tombstones = redelivered = broken = 0
    wrong_types = set()
    for topic in TOPICS[1:]:
        seen = Counter()
        last_delete_key = {}
        for record in read_records(out, topic):
            if record["payload"] is None:
                tombstones += 1
                assert last_delete_key.get(record["partition"]) == record["key"]
                continue
            try:
                change = json.loads(record["payload"])
            except ValueError:
                broken += 1
                continue
            assert change["op"] in {"c", "u", "d", "r"}
            assert {"file", "pos", "row"} <= set(change["source"])
            key = (record["key"], change["source"]["file"], change["source"]["pos"])
            redelivered += seen[key]
            seen[key] += 1
            if change["after"] and not readable(topic.removeprefix("shop."), change["after"]):
                wrong_types.add((topic, key))
            if change["op"] == "d":
                assert change["after"] is None and change["before"] is not None
                last_delete_key[record["partition"]] = record["key"]
    assert tombstones == manifest["cdc_tombstones"] > 0
    assert redelivered == manifest["cdc_redelivered"] > 0
    assert broken == manifest["cdc_broken"]
    assert len(wrong_types) == manifest["cdc_wrong_types"] > 0

    changes = [parsed(r["payload"]) for r in read_records(out, "shop.orders")]
    orders = {c["after"]["id"] for c in changes if c and c["after"]}
    events = [parsed(r["payload"]) for r in read_records(out, "weblog.events")]
    purchased = {e["order_id"] for e in events if e and e.get("event_type") == "purchase"}
    assert purchased and purchased <= orders


def test_visitors_are_mostly_new_and_some_come_back_over_the_weeks(tmp_path: Path):
    """Three KST weeks: every day has new and returning visitors, and each weekly cohort's
    visitors come back in later weeks, fewer as the weeks pass (tests/reference.py counts)."""
    manifest = generate(tmp_path, days=21, events_per_day=3000, malls=3, seed=5,
                        start=date(2026, 1, 5), progress=False)  # fmt: skip
    assert manifest["weblog_newcomer_sessions"] > manifest["weblog_newcomer_returns"] > 0
    loyalty = visitor_loyalty(load_events(tmp_path))
    period = [date(2026, 1, 5) + timedelta(days=n) for n in range(21)]
    days = [loyalty.new_returning[("day", None, day)] for day in period]
    assert all(0 < d["new_visitors"] < d["visitors"] for d in days[1:]), days
    retention = {(c, o): kept / size for (m, c, o), (size, kept) in loyalty.retention.items()
                 if m is None}  # fmt: skip
    first, second = date(2026, 1, 5), date(2026, 1, 12)
    assert 0 < retention[(first, 2)] < retention[(first, 1)] < 1, retention
    assert 0 < retention[(second, 1)] < 1, retention


def test_without_cdc_faults_the_same_world_and_no_faulty_change(tmp_path: Path, generated):
    """--no-cdc-faults: the same weblog and the same shop changes at the same positions,
    only the wrong-typed, redelivered and broken change records left out (tombstones stay):
    a history a real shop database can hold (tests/test_debezium.py replays it there)."""
    out, manifest = generated
    clean = tmp_path / "clean"
    counts = generate(clean, days=2, events_per_day=30_000, malls=10, seed=3, progress=False,
                      cdc_faults=False)  # fmt: skip
    assert counts["parameters"]["cdc_faults"] is False
    assert (clean / "weblog.events.jsonl").read_bytes() == (
        out / "weblog.events.jsonl"
    ).read_bytes()
    assert counts["cdc_tombstones"] == manifest["cdc_tombstones"] > 0
    for topic in TOPICS:
        if not topic.startswith("shop."):
            continue
        records = read_records(clean, topic)
        changes = [parsed(r["payload"]) for r in records if r["payload"] is not None]
        assert all(change is not None for change in changes), f"{topic}: a broken record"
        positions = [(c["source"]["file"], c["source"]["pos"]) for c in changes]
        assert len(positions) == len(set(positions)), f"{topic}: a redelivered change"
        faulty = {(c["source"]["file"], c["source"]["pos"]) for c in map(parsed, (
            r["payload"] for r in read_records(out, topic) if r["payload"] is not None
        )) if c is not None}  # fmt: skip
        assert set(positions) == faulty, f"{topic}: other changes than the default run"
        for change in changes:
            assert readable(topic.removeprefix("shop."), change["after"] or change["before"])
