{#- Ties the marts to the raw table, per KST day: the platform's hits equal the distinct
    event_ids of valid raw events of that day, the malls' hits add up to the platform's, and
    every month's hits are the sum of its days. Any row returned is a discrepancy. -#}
with

raw_days as (
    select cast({{ to_kst('event_time') }} as date) as date_kst, count(distinct event_id) as hits
    from {{ source('raw', 'weblog_events') }}
    group by 1
),

platform_days as (
    select date_kst, hits from {{ ref('platform_visitors_daily') }}
),

mall_days as (
    select date_kst, sum(hits) as hits from {{ ref('mall_visitors_daily') }} group by 1
),

day_discrepancies as (
    select
        coalesce(raw_days.date_kst, platform_days.date_kst) as bucket,
        raw_days.hits as raw_hits,
        platform_days.hits as platform_hits,
        mall_days.hits as mall_hits
    from raw_days
    full outer join platform_days on raw_days.date_kst = platform_days.date_kst
    left join mall_days on mall_days.date_kst = coalesce(raw_days.date_kst, platform_days.date_kst)
    where raw_days.hits is null
        or platform_days.hits is null
        or raw_days.hits <> platform_days.hits
        or mall_days.hits is null
        or mall_days.hits <> platform_days.hits
),

month_discrepancies as (
    select
        months.month_kst as bucket,
        cast(null as bigint) as raw_hits,
        months.hits as platform_hits,
        days.hits as mall_hits
    from {{ ref('platform_visitors_monthly') }} as months
    left join (
        select cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst, sum(hits) as hits
        from platform_days
        group by 1
    ) as days on days.month_kst = months.month_kst
    where days.hits is null or days.hits <> months.hits
)

select * from day_discrepancies
union all
select * from month_discrepancies
