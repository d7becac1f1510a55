"""Structured logs of several processes sharing one stderr (the API's workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LINES = 5000
WRITER = f"""
import structlog
from lakehouse.logging import configure_logging
configure_logging(json=True, pid=True)
log = structlog.get_logger()
for number in range({LINES}):
    log.info("request", path="/crm/segments/unused-coupons", number=number, pad="x" * 120)
"""


def test_processes_sharing_a_stderr_write_whole_json_lines(tmp_path: Path):
    log = tmp_path / "shared.log"
    with log.open("wb") as out:  # as serve_api's server and its workers share theirs
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER], stdout=out, stderr=subprocess.STDOUT)
            for _ in range(2)
        ]
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    lines = log.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # each line is one JSON object, whole
    per_process: dict[int, list[int]] = {}
    for event in events:
        per_process.setdefault(event["pid"], []).append(event["number"])
    assert sorted(per_process) == sorted(writer.pid for writer in writers)
    assert all(numbers == list(range(LINES)) for numbers in per_process.values())
