{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Sessions, bounces and time on site of all malls together per KST month: sums of
    mall_engagement_monthly, rates over those sums. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
rebuild_months as (
    select distinct cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from rebuild_days
),
{% endif %}

mall_months as (
    select * from {{ ref('mall_engagement_monthly') }}
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
),

summed as (
    select
        month_kst,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(bounces) as bigint) as bounces,
        cast(sum(session_seconds) as bigint) as session_seconds,
        max(_ingested_at) as _ingested_at
    from mall_months
    group by month_kst
)

select
    month_kst,
    sessions,
    bounces,
    cast(bounces as double) / sessions as bounce_rate,
    session_seconds,
    cast(session_seconds as double) / sessions as avg_session_seconds,
    _ingested_at
from summed
