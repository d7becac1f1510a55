# The dataplat image: loader, API and dbt transform (docker-compose.yml runs each as a service).
#
#   docker build -t dataplat .
#   docker run --rm dataplat dataplat --help
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH

# The uv the Makefile pins: it installs exactly the versions of uv.lock (the ones the tests
# ran with), where `pip install .[platform]` would resolve afresh.
RUN pip install uv==0.13.9

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra platform --no-install-project

# The project itself, installed editable on purpose: lakehouse/settings.py finds dbt_project/
# next to the lakehouse package (REPO_ROOT), which a site-packages install would not have.
COPY dataplat ./dataplat
COPY lakehouse ./lakehouse
COPY loader ./loader
COPY transform ./transform
COPY sampledata ./sampledata
COPY api ./api
COPY orchestration ./orchestration
COPY infra ./infra
COPY dbt_project ./dbt_project
RUN uv sync --frozen --no-dev --extra platform

# Not root. dbt writes target/ into the project; DATAPLAT_HOME holds auth.db and dbt logs
# (a named volume in compose, which takes this directory's owner).
RUN useradd --system --uid 10001 --home-dir /var/lib/dataplat dataplat \
    && mkdir -p /var/lib/dataplat \
    && chown -R dataplat /var/lib/dataplat /app/dbt_project
USER dataplat
ENV DATAPLAT_HOME=/var/lib/dataplat

EXPOSE 8000
CMD ["dataplat", "--help"]
