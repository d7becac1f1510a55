{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Visitors, hits and sessions of all malls together per KST month and channel: sums of
    mall_channels_monthly, and visitors distinct across malls and days. -#}
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
    select * from {{ ref('mall_channels_monthly') }}
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
),

channel_visitors as (
    select * from {{ ref('int_weblog__daily_mall_channel_visitors') }}
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
),

summed as (
    select
        month_kst,
        channel,
        cast(sum(hits) as bigint) as hits,
        cast(sum(sessions) as bigint) as sessions,
        max(_ingested_at) as _ingested_at
    from mall_months
    group by month_kst, channel
),

distinct_visitors as (
    select
        month_kst,
        channel,
        count(distinct visitor_id) as visitors
    from channel_visitors
    group by month_kst, channel
)

select
    summed.month_kst,
    summed.channel,
    distinct_visitors.visitors,
    summed.sessions,
    summed.hits,
    summed._ingested_at
from summed
inner join distinct_visitors
    on
        summed.month_kst = distinct_visitors.month_kst
        and summed.channel = distinct_visitors.channel
