{#- Each mall's hits on the checked days (macros/data_quality.sql) against the seven days
    before: the data-quality checks of tests/data_quality/ warn on its rows whose status is
    low, high or stopped. Definitions: the doc block volume_checks. -#}

with

mall_days as (
    select
        mall_id,
        date_kst,
        hits
    from {{ ref('mall_visitors_daily') }}
),

checked_days as (
    {{ data_quality_days(ref('mall_visitors_daily')) }}
),

-- Every mall with hits on a checked day or on one of the seven days before it.
mall_weeks as (
    select
        checked_days.date_kst,
        mall_days.mall_id,
        sum(case when mall_days.date_kst = checked_days.date_kst then mall_days.hits else 0 end)
            as hits,
        sum(
            case
                when
                    mall_days.date_kst
                    = cast({{ dbt.dateadd('day', -1, 'checked_days.date_kst') }} as date)
                    then mall_days.hits
                else 0
            end
        ) as hits_day_before,
        sum(case when mall_days.date_kst < checked_days.date_kst then mall_days.hits else 0 end)
            as trailing_hits,
        count(case when mall_days.date_kst < checked_days.date_kst then 1 end)
            as trailing_days_with_hits
    from checked_days
    inner join mall_days
        on
            mall_days.date_kst
            between cast({{ dbt.dateadd('day', -7, 'checked_days.date_kst') }} as date)
            and checked_days.date_kst
    group by checked_days.date_kst, mall_days.mall_id
),

averaged as (
    select
        mall_id,
        date_kst,
        hits,
        hits_day_before,
        trailing_days_with_hits,
        -- Days without hits count as zero.
        cast(trailing_hits as double) / 7 as trailing_average_hits
    from mall_weeks
)

select
    mall_id,
    date_kst,
    hits,
    hits_day_before,
    trailing_days_with_hits,
    trailing_average_hits,
    case when trailing_average_hits > 0 then hits / trailing_average_hits end as hits_ratio,
    case
        when hits = 0 and hits_day_before > 0 then 'stopped'
        when
            trailing_days_with_hits < {{ var('volume_min_trailing_days') }}
            or trailing_average_hits < {{ var('volume_min_average_hits') }}
            then 'unchecked'
        when hits < {{ var('volume_band_low') }} * trailing_average_hits then 'low'
        when hits > {{ var('volume_band_high') }} * trailing_average_hits then 'high'
        else 'ok'
    end as volume_status
from averaged
