"""Airflow DAGs that run the dbt project through astronomer-cosmos (see orchestration/README.md)."""
