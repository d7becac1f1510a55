"""Shared fixtures: generated data sets made once per test session through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DATAPLAT = [sys.executable, "-m", "dataplat.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True):
    return subprocess.run(
        [*DATAPLAT, *args],
        env={**os.environ, **(env or {})},
        check=check,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two KST days (crossing the month end), 12 malls: every topic and every fault."""
    out = tmp_path_factory.mktemp("generated") / "topics"
    run_cli(
        "generate", "--out", str(out), "--days", "2", "--events-per-day", "20000",
        "--malls", "12", "--seed", "7", "--start", "2026-01-31",
    )  # fmt: skip
    return out
