{#- New and returning visitors per mall and KST day (doc block metric_new_returning). A
    visitor is new on the day of their first event in the mall; a late event can make them
    new on an earlier day, and returning on the day they were new before, so every day is
    counted again on each run (from small inputs: a row per mall and day, and a row per
    visitor and mall). -#}

with

mall_days as (
    select * from {{ ref('mall_visitors_daily') }}
),

first_days as (
    select * from {{ ref('int_weblog__mall_visitor_first_days') }}
),

new_counts as (
    select
        mall_id,
        first_date_kst as date_kst,
        count(*) as new_visitors
    from first_days
    group by mall_id, first_date_kst
)

select
    mall_days.mall_id,
    mall_days.date_kst,
    mall_days.visitors,
    coalesce(new_counts.new_visitors, 0) as new_visitors,
    mall_days.visitors - coalesce(new_counts.new_visitors, 0) as returning_visitors
from mall_days
left join new_counts
    on
        mall_days.mall_id = new_counts.mall_id
        and mall_days.date_kst = new_counts.date_kst
