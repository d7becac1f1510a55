{#- Ties the daily marts to the raw table, per KST day: the platform's hits equal the distinct
    event_ids of valid raw events of that day, and the malls' hits add up to the platform's.
    Days after the newest built day are not compared: the loader runs ahead of the schedule.
    Any row returned is a discrepancy. -#}
with

platform_days as (
    select
        date_kst,
        hits
    from {{ ref('platform_visitors_daily') }}
),

raw_days as (
    select
        cast({{ to_kst('event_time') }} as date) as date_kst,
        count(distinct event_id) as hits
    from {{ source('raw', 'weblog_events') }}
    group by 1
    having cast({{ to_kst('event_time') }} as date) <= (
        select max(platform_days.date_kst) as last_day from platform_days
    )
),

mall_days as (
    select
        date_kst,
        sum(hits) as hits
    from {{ ref('mall_visitors_daily') }}
    group by 1
)

select
    coalesce(raw_days.date_kst, platform_days.date_kst) as date_kst,
    raw_days.hits as raw_hits,
    platform_days.hits as platform_hits,
    mall_days.hits as mall_hits
from raw_days
full outer join platform_days on raw_days.date_kst = platform_days.date_kst
left join mall_days on mall_days.date_kst = coalesce(raw_days.date_kst, platform_days.date_kst)
where
    raw_days.hits is null
    or platform_days.hits is null
    or raw_days.hits <> platform_days.hits
    or mall_days.hits is null
    or mall_days.hits <> platform_days.hits
