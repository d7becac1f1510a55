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
