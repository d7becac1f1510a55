{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Visitor statistics of all malls together per KST day. page_views, hits and sessions are
    sums of the malls' daily figures; visitors and members_visited are distinct across all
    malls (a visitor of two malls counts once), so they are counted again from the events. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

mall_days as (
    select * from {{ ref('mall_visitors_daily') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

events as (
    select * from {{ ref('stg_weblog__events') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

summed as (
    select
        date_kst,
        cast(sum(page_views) as bigint) as page_views,
        cast(sum(hits) as bigint) as hits,
        cast(sum(sessions) as bigint) as sessions,
        max(_ingested_at) as _ingested_at
    from mall_days
    group by date_kst
),

distinct_people as (
    select
        date_kst,
        count(distinct visitor_id) as visitors,
        count(distinct member_id) as members_visited
    from events
    group by date_kst
)

select
    summed.date_kst,
    distinct_people.visitors,
    summed.page_views,
    summed.hits,
    summed.sessions,
    distinct_people.members_visited,
    summed._ingested_at
from summed
inner join distinct_people
    on summed.date_kst = distinct_people.date_kst
