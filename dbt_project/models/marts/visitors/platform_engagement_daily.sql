{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Sessions, bounces and time on site of all malls together per KST day: sums of
    mall_engagement_daily (a session belongs to one mall), rates over those sums. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

mall_days as (
    select * from {{ ref('mall_engagement_daily') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

summed as (
    select
        date_kst,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(bounces) as bigint) as bounces,
        cast(sum(session_seconds) as bigint) as session_seconds,
        max(_ingested_at) as _ingested_at
    from mall_days
    group by date_kst
)

select
    date_kst,
    sessions,
    bounces,
    cast(bounces as double) / sessions as bounce_rate,
    session_seconds,
    cast(session_seconds as double) / sessions as avg_session_seconds,
    _ingested_at
from summed
