"""The audit log of segment reads on a real Iceberg table: no row lost when an append fails,
a bounded queue, and the table maintained like the raw tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyiceberg.table import Table

from api.audit import AuditLog, AuditUnavailable
from api.settings import ApiSettings
from lakehouse.catalog import open_catalog
from lakehouse.maintenance import maintain_embedded
from lakehouse.settings import MaintenanceSettings
from lakehouse.tables import AUDIT_TABLE

READ = {
    "key_id": "k1", "key_name": "tests", "segment": "unused-coupons", "mall_id": 1,
    "as_of": date(2026, 1, 31), "format": "json", "parameters": {}, "page": 1, "rows": 3,
}  # fmt: skip


def audit_rows(settings: ApiSettings) -> int:
    return open_catalog(settings).load_table(AUDIT_TABLE).scan().to_arrow().num_rows


def test_no_audit_row_is_lost_when_an_append_fails(tmp_path: Path, monkeypatch):
    settings = ApiSettings(home=tmp_path / "home")
    audit = AuditLog(settings, interval_seconds=3600)
    try:
        for _ in range(3):
            audit.record(**READ)
        original = Table.append

        def disk_full(*args, **kwargs):
            raise OSError("No space left on device")

        monkeypatch.setattr(Table, "append", disk_full)
        with pytest.raises(OSError):
            audit.flush()
        monkeypatch.setattr(Table, "append", original)
        audit.record(**READ)
        assert audit.flush() == 4
        assert audit_rows(settings) == 4
    finally:
        audit.close()


def test_the_audit_queue_is_bounded_and_refuses_rather_than_drops(tmp_path: Path):
    settings = ApiSettings(home=tmp_path / "home")
    audit = AuditLog(settings, interval_seconds=3600, max_queued=2, wait_seconds=0.2)
    try:
        audit.record(**READ)
        audit.record(**READ)
        with pytest.raises(AuditUnavailable, match="retry later"):
            audit.record(**READ)
        assert audit.flush() == 2
        audit.record(**READ)  # room again
        assert audit.flush() == 1
        assert audit_rows(settings) == 3
    finally:
        audit.close()


def test_the_audit_table_is_maintained_like_the_raw_tables(tmp_path: Path):
    settings = ApiSettings(home=tmp_path / "home")
    audit = AuditLog(settings, interval_seconds=3600)
    try:
        for _ in range(5):  # five commits, five small files
            audit.record(**READ)
            audit.flush()
    finally:
        audit.close()
    maintenance = MaintenanceSettings(home=settings.home, compaction_min_files=2)
    (report,) = maintain_embedded(maintenance)  # the raw tables do not exist here
    assert report.table == AUDIT_TABLE
    assert report.files_compacted == 5 and report.files_written == 1
    assert audit_rows(settings) == 5


def test_the_audit_table_keeps_a_bounded_history_and_every_row(tmp_path: Path):
    """An append per flush, for as long as the API runs: the API expires the oldest
    snapshots itself, so the cost of an append does not grow with its history."""
    settings = ApiSettings(home=tmp_path / "home")
    audit = AuditLog(settings, interval_seconds=3600, kept_snapshots=2)
    try:
        for _ in range(9):
            audit.record(**READ)
            assert audit.flush() == 1
            snapshots = open_catalog(settings).load_table(AUDIT_TABLE).metadata.snapshots
            assert len(snapshots) <= 2 * 2  # 9 appends: the oldest were expired
    finally:
        audit.close()
    assert audit_rows(settings) == 9
