{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Visitor statistics per mall and KST hour: mall_visitors_daily's figures, an hour at a
    time. visitors and members_visited are distinct over the hour; a session counts in the
    hour of its first event. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

events as (
    select * from {{ ref('stg_weblog__events') }}
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

event_figures as (
    select
        mall_id,
        hour_kst,
        count(distinct visitor_id) as visitors,
        cast(sum(case when event_type in ('page_view', 'product_view') then 1 else 0 end) as bigint)
            as page_views,
        count(*) as hits,
        count(distinct member_id) as members_visited,
        max(_ingested_at) as _ingested_at
    from events
    group by mall_id, hour_kst
),

session_figures as (
    select
        mall_id,
        hour_kst,
        count(*) as sessions
    from sessions
    group by mall_id, hour_kst
)

select
    event_figures.mall_id,
    event_figures.hour_kst,
    cast(event_figures.hour_kst as date) as date_kst,
    event_figures.visitors,
    event_figures.page_views,
    event_figures.hits,
    coalesce(session_figures.sessions, 0) as sessions,
    event_figures.members_visited,
    event_figures._ingested_at
from event_figures
left join session_figures
    on
        event_figures.mall_id = session_figures.mall_id
        and event_figures.hour_kst = session_figures.hour_kst
