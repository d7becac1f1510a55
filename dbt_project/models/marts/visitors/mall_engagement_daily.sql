{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Sessions, bounces and time on site per mall and KST day (doc blocks metric_bounces,
    metric_session_seconds): a session counts on the day of its first event. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

sessions as (
    select * from {{ ref('int_weblog__sessions') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

summed as (
    select
        mall_id,
        date_kst,
        count(*) as sessions,
        cast(sum(case when events = 1 then 1 else 0 end) as bigint) as bounces,
        cast(sum(session_seconds) as bigint) as session_seconds,
        max(_ingested_at) as _ingested_at
    from sessions
    group by mall_id, date_kst
)

select
    mall_id,
    date_kst,
    sessions,
    bounces,
    cast(bounces as double) / sessions as bounce_rate,
    session_seconds,
    cast(session_seconds as double) / sessions as avg_session_seconds,
    _ingested_at
from summed
