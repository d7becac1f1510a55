"""bench.engines moves generated dumps apart at the last hour (no copy: the large day's dumps
do not fit twice on disk); the two parts must give back every line, the latest in the second."""

import re
from pathlib import Path

import pytest

from bench.engines import split_folders, split_last_hour
from sampledata.generate import generate

ARRIVAL = re.compile(rb'"ts":(\d+)')


def arrival(line: bytes) -> int:
    found = ARRIVAL.search(line)
    return int(found[1]) if found else 0


def test_the_split_keeps_every_line_and_puts_the_latest_arrivals_last(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    generate(dumps, days=2, events_per_day=3_000, malls=4, seed=7, progress=False)
    original = {path.name: path.read_bytes() for path in dumps.glob("*.jsonl")}

    heads, last_hour = split_last_hour(dumps, days=2)

    assert (heads, last_hour) == split_folders(dumps)
    assert not dumps.exists()
    assert (heads / "_manifest.json").exists() and (last_hour / "_manifest.json").exists()
    assert not (heads / "_splitting").exists()
    head_lines, tail_lines = [], []
    for name, content in original.items():
        head, tail = (heads / name).read_bytes(), (last_hour / name).read_bytes()
        assert head + tail == content, name
        head_lines += head.splitlines()
        tail_lines += tail.splitlines()
    every = len(head_lines) + len(tail_lines)
    # An average hour of the two days' records, give or take the records that share the
    # cutoff's millisecond.
    assert every // 48 <= len(tail_lines) <= every // 48 + 10
    assert max(map(arrival, head_lines)) <= min(map(arrival, tail_lines))
    # A second call finds the split done and changes nothing.
    assert split_last_hour(dumps, days=2) == (heads, last_hour)
    assert sum(len((last_hour / name).read_bytes()) for name in original) == sum(
        len(line) + 1 for line in tail_lines
    )


@pytest.mark.parametrize("stopped", ["before the dumps moved", "before the last hour moved"])
def test_a_split_that_stopped_halfway_is_refused(tmp_path: Path, stopped: str) -> None:
    dumps = tmp_path / "dumps"
    generate(dumps, days=1, events_per_day=500, malls=2, seed=7, progress=False)
    (dumps / "_splitting").touch()
    if stopped == "before the last hour moved":
        dumps.rename(split_folders(dumps)[0])
    with pytest.raises(RuntimeError, match=r"stopped halfway: delete .*dumps\* and re-run"):
        split_last_hour(dumps, days=1)
