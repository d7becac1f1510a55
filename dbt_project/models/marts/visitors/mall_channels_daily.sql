{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Visitors, hits and sessions per mall, KST day and channel (doc block metric_channel). A
    session counts for the channel of its first event. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

channel_visitors as (
    select * from {{ ref('int_weblog__daily_mall_channel_visitors') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

sessions as (
    select * from {{ ref('int_weblog__sessions') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

visitor_figures as (
    select
        mall_id,
        date_kst,
        channel,
        count(distinct visitor_id) as visitors,
        cast(sum(hits) as bigint) as hits,
        max(_ingested_at) as _ingested_at
    from channel_visitors
    group by mall_id, date_kst, channel
),

-- A session's first event is one of its day's hits, so its channel has a row above.
session_figures as (
    select
        mall_id,
        date_kst,
        first_channel as channel,
        count(*) as sessions
    from sessions
    group by mall_id, date_kst, first_channel
)

select
    visitor_figures.mall_id,
    visitor_figures.date_kst,
    visitor_figures.channel,
    visitor_figures.visitors,
    coalesce(session_figures.sessions, 0) as sessions,
    visitor_figures.hits,
    visitor_figures._ingested_at
from visitor_figures
left join session_figures
    on
        visitor_figures.mall_id = session_figures.mall_id
        and visitor_figures.date_kst = session_figures.date_kst
        and visitor_figures.channel = session_figures.channel
