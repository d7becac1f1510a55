"""The transform's settings: the dbt project it builds and DuckDB's build file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from lakehouse.settings import (
    DBT_PROJECT_DIR,
    EngineSettings,
    trino_password_field,
    trino_user_field,
)


class TransformSettings(EngineSettings):
    # dbt on Trino runs as the transform principal: reads raw, writes the modelled schemas.
    trino_user: str = trino_user_field("transform")
    trino_password: SecretStr | None = trino_password_field("transform")
    # The dbt project the transform and the Airflow DAGs build (an analyst's checkout works).
    dbt_project_dir: Path = DBT_PROJECT_DIR
    # Where dbt writes what it makes (manifest, run results, partial parse, docs site): one
    # directory per home, so the builds of two homes from one checkout (two environments,
    # the test suite's homes) never write the same files.
    dbt_target_dir: Path | None = None
    duckdb_path: Path | None = None
    # dbt's threads on Trino: statements that run at once, each may hold up to Trino's
    # query.max-memory-per-node. With Trino on the same 2 cores, 4 were no faster than 2 on
    # the 2,000,000-event day, and within the spread of identical runs on 3 days
    # (docs/performance.md); more where Trino has cores of its own.
    trino_threads: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _fill_build_default(self) -> TransformSettings:
        if self.duckdb_path is None:
            self.duckdb_path = self.home / "duckdb" / "build.duckdb"
        if self.dbt_target_dir is None:
            self.dbt_target_dir = self.home / "dbt-target"
        return self
