"""The transform: raw Iceberg tables → dbt build (dbt_project/) → the marts the API reads."""
