#!/bin/sh
# docker-compose.yml: the Iceberg catalog database, owned by a role that is not a superuser
# (as infra/platform.py sets it up). LAKEHOUSE_PASSWORD comes from `make credentials`.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v password="$LAKEHOUSE_PASSWORD" <<'SQL'
create role lakehouse login nosuperuser nocreatedb nocreaterole password :'password';
create database iceberg_catalog owner lakehouse;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname iceberg_catalog \
    -c "revoke all on schema public from public; alter schema public owner to lakehouse"
