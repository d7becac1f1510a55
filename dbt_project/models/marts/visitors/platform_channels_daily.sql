{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Visitors, hits and sessions of all malls together per KST day and channel. Hits and
    sessions are sums of the malls' figures; visitors are distinct across malls (a visitor of
    two malls counts once), so they are counted again from the daily channel visitors. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

mall_days as (
    select * from {{ ref('mall_channels_daily') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

channel_visitors as (
    select * from {{ ref('int_weblog__daily_mall_channel_visitors') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

summed as (
    select
        date_kst,
        channel,
        cast(sum(hits) as bigint) as hits,
        cast(sum(sessions) as bigint) as sessions,
        max(_ingested_at) as _ingested_at
    from mall_days
    group by date_kst, channel
),

distinct_visitors as (
    select
        date_kst,
        channel,
        count(distinct visitor_id) as visitors
    from channel_visitors
    group by date_kst, channel
)

select
    summed.date_kst,
    summed.channel,
    distinct_visitors.visitors,
    summed.sessions,
    summed.hits,
    summed._ingested_at
from summed
inner join distinct_visitors
    on
        summed.date_kst = distinct_visitors.date_kst
        and summed.channel = distinct_visitors.channel
