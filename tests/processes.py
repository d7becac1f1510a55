"""Processes started by tests: every one is checked for how it ended, and a failure shows
the end of its output, so a fixture never goes on after a process that died unseen."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

TAIL = 4000


def log_events(lines: list[str]) -> list[dict]:
    """The structured lines of a process's log (JSON, one event each); other lines skipped."""
    return [json.loads(line) for line in lines if line.startswith("{")]


def tail(text: str | None, limit: int = TAIL) -> str:
    text = text or ""
    return text if len(text) <= limit else "…" + text[-limit:]


def run(args: list[str], env: dict[str, str] | None = None, *, check: bool = True,
        timeout: float | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """Runs a command to its end; with ``check``, a non-zero exit fails the test with the
    command, its exit status and the end of its output."""
    result = subprocess.run(
        args, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {result.returncode}\n"
            f"--- stderr (end) ---\n{tail(result.stderr)}\n--- stdout (end) ---\n"
            f"{tail(result.stdout, 1500)}",
            pytrace=False,
        )
    return result


def log_tail(path: Path) -> str:
    return tail(path.read_text(errors="replace")) if path.exists() else f"(no log at {path})"


def check_ended(process: subprocess.Popen, expected: tuple[int, ...], log: str) -> None:
    """Fails when a process ended otherwise than expected (exit code, or -signal)."""
    returncode = process.poll()
    if returncode not in expected:
        pytest.fail(
            f"{' '.join(map(str, process.args))} ended with {returncode}, expected one of "
            f"{expected}\n--- its output (end) ---\n{tail(log)}",
            pytrace=False,
        )
