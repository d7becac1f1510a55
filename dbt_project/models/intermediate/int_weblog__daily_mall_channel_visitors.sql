{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Who visited which mall on which KST day through which channel, with their events: the
    set the channel marts count visitors and hits over, daily and monthly. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

events as (
    select
        date_kst,
        month_kst,
        mall_id,
        coalesce(channel, 'unknown') as channel,
        visitor_id,
        _ingested_at
    from {{ ref('stg_weblog__events') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
)

select
    date_kst,
    month_kst,
    mall_id,
    channel,
    visitor_id,
    count(*) as hits,
    max(_ingested_at) as _ingested_at
from events
group by date_kst, month_kst, mall_id, channel, visitor_id
