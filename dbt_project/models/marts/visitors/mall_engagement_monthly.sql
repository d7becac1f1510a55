{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Sessions, bounces and time on site per mall and KST month: sums of
    mall_engagement_daily, rates over the month's sums (never averages of days). -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
rebuild_months as (
    select distinct cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from rebuild_days
),
{% endif %}

mall_days as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from {{ ref('mall_engagement_daily') }}
),

summed as (
    select
        mall_id,
        month_kst,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(bounces) as bigint) as bounces,
        cast(sum(session_seconds) as bigint) as session_seconds,
        max(_ingested_at) as _ingested_at
    from mall_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst
)

select
    mall_id,
    month_kst,
    sessions,
    bounces,
    cast(bounces as double) / sessions as bounce_rate,
    session_seconds,
    cast(session_seconds as double) / sessions as avg_session_seconds,
    _ingested_at
from summed
