"""The style checks a developer's commits go through: .pre-commit-config.yaml runs ruff and
sqlfluff (the dbt project's SQL style) from the project's environment, and they pass on the
repository as it is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_pre_commit_hooks_run_ruff_and_sqlfluff_and_pass(tmp_path: Path):
    hooks = REPO / ".pre-commit-config.yaml"
    text = hooks.read_text()
    assert "ruff check" in text and "sqlfluff" in text
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    outcomes = dict(re.findall(r"^(.+?)\.{3,}(Passed|Failed|Skipped)$", result.stdout, re.M))
    assert outcomes == {
        "ruff check": "Passed",
        "ruff format --check": "Passed",
        "sqlfluff lint (dbt project)": "Passed",
    }, result.stdout
