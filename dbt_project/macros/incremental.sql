{#- Incremental runs rebuild whole KST days. The days to rebuild are those of events ingested
    since this model last ran (minus a lookback for loader batches still committing then),
    and their neighbours: a late event can lengthen a session that began the day before, or
    absorb the first session of the day after. -#}

{% macro ingested_since_last_run(relation_column='_ingested_at') -%}
    {{ relation_column }} > (
        select {{ dbt.dateadd('minute', -1 * var('ingest_lookback_minutes'), 'max(_ingested_at)') }}
        from {{ this }}
    )
{%- endmacro %}

{% macro days_to_rebuild() -%}
    select distinct date_kst from (
        select date_kst from changed_days
        union all
        select cast({{ dbt.dateadd('day', -1, 'date_kst') }} as date) from changed_days
        union all
        select cast({{ dbt.dateadd('day', 1, 'date_kst') }} as date) from changed_days
    ) as neighbourhood
{%- endmacro %}

{#- Days a run is asked to rebuild whatever was ingested: vars rebuild_from and rebuild_to
    (KST dates, inclusive), as the scheduler's daily runs and backfills pass them. Rebuilding
    a day from the raw tables gives the same rows however often it runs, so re-running a date
    range is idempotent. -#}
{% macro requested_days_given() -%}
    {{ return(var('rebuild_from', none) is not none) }}
{%- endmacro %}

{% macro requested_date_range(date_column) -%}
    {%- set last = var('rebuild_to', var('rebuild_from')) -%}
    {{ date_column }} between cast('{{ var('rebuild_from') }}' as date) and cast('{{ last }}' as date)
{%- endmacro %}

{#- The requested days (rebuild_from to rebuild_to, inclusive) as 'YYYY-MM-DD' strings. -#}
{% macro requested_days() -%}
    {%- set first = modules.datetime.date.fromisoformat(var('rebuild_from') | string) -%}
    {%- set last = modules.datetime.date.fromisoformat((var('rebuild_to') or var('rebuild_from')) | string) -%}
    {%- set days = [] -%}
    {%- for n in range((last - first).days + 1) -%}
        {%- do days.append((first + modules.datetime.timedelta(days=n)).isoformat()) -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}

{#- The KST days stg_weblog__events rebuilds on an incremental run, as 'YYYY-MM-DD' strings:
    the days of raw events ingested since its last run (minus the lookback), and the requested
    days. Asked before the model's SQL runs, so that SQL carries them as literal dates: the
    engines skip raw files (Trino: day partitions) with literals, never with a subquery. -#}
{% macro weblog_days_to_rebuild() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {#- Values come back as text behind a letter: dbt would read dates and times into Python
        objects, and the text is what the engine reads back exactly. -#}
    {%- set newest -%}
        select 't' || cast({{ dbt.dateadd('minute', -1 * var('ingest_lookback_minutes'), 'max(_ingested_at)') }} as varchar)
        from {{ this }}
    {%- endset -%}
    {%- set since = run_query(newest).columns[0].values()[0] -%}
    {%- set changed -%}
        select distinct 'd' || cast(cast({{ to_kst('event_time') }} as date) as varchar)
        from {{ source('raw', 'weblog_events') }}
        {%- if since is not none %}
        where _ingested_at > {{ timestamp_tz_literal(since[1:]) }}
        {%- endif %}
    {%- endset -%}
    {%- set days = [] -%}
    {%- for day in run_query(changed).columns[0].values() -%}
        {%- do days.append(day[1:]) -%}
    {%- endfor -%}
    {%- if requested_days_given() -%}
        {%- set days = days + requested_days() -%}
    {%- endif -%}
    {{ return(days | unique | sort) }}
{%- endmacro %}

{#- Condition that a raw table's UTC event time falls on one of the KST days given (strings):
    literal bounds first (file and partition pruning), then the days themselves. -#}
{% macro event_time_on_kst_days(column, days) -%}
    {%- set after_last = modules.datetime.date.fromisoformat(days[-1]) + modules.datetime.timedelta(days=1) -%}
    {{ column }} >= {{ kst_date_start_utc("date '" ~ days[0] ~ "'") }}
    and {{ column }} < {{ kst_date_start_utc("date '" ~ after_last.isoformat() ~ "'") }}
    and cast({{ to_kst(column) }} as date) in (
        {%- for day in days %}date '{{ day }}'{{ ", " if not loop.last }}{% endfor -%}
    )
{%- endmacro %}

{#- The CTEs ``changed_days`` and ``rebuild_days`` from stg_weblog__events (empty on a full
    build): the neighbourhood of days with newly ingested events, plus the requested days. -#}
{% macro rebuild_days_ctes() -%}
    changed_days as (
        select distinct date_kst
        from {{ ref('stg_weblog__events') }}
        where {{ ingested_since_last_run() }}
    ),
    rebuild_days as (
        {{ days_to_rebuild() }}
        {%- if requested_days_given() %}
        union
        select distinct date_kst
        from {{ ref('stg_weblog__events') }}
        where {{ requested_date_range('date_kst') }}
        {%- endif %}
    ),
{%- endmacro %}
