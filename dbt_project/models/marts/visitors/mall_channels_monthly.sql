{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Visitors, hits and sessions per mall, KST month and channel. Hits and sessions are sums
    of mall_channels_daily; visitors are distinct over the whole month, counted over the
    daily channel visitors. An incremental run rebuilds the months of the days it rebuilds. -#}
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
    from {{ ref('mall_channels_daily') }}
),

channel_visitors as (
    select * from {{ ref('int_weblog__daily_mall_channel_visitors') }}
),

summed as (
    select
        mall_id,
        month_kst,
        channel,
        cast(sum(hits) as bigint) as hits,
        cast(sum(sessions) as bigint) as sessions,
        max(_ingested_at) as _ingested_at
    from mall_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst, channel
),

distinct_visitors as (
    select
        mall_id,
        month_kst,
        channel,
        count(distinct visitor_id) as visitors
    from channel_visitors
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst, channel
)

select
    summed.mall_id,
    summed.month_kst,
    summed.channel,
    distinct_visitors.visitors,
    summed.sessions,
    summed.hits,
    summed._ingested_at
from summed
inner join distinct_visitors
    on
        summed.mall_id = distinct_visitors.mall_id
        and summed.month_kst = distinct_visitors.month_kst
        and summed.channel = distinct_visitors.channel
