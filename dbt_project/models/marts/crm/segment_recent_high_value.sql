{#- recent_high_value as of each day D with the default parameters: active members who
    joined within the recent_high_value_months (6) calendar months before the end of D
    (joined exactly 6 months before the end of D is within), and paid at least
    recent_high_value_min_amount (30,000 KRW) before the end of D. -#}
select
    as_of_date,
    mall_id,
    member_id,
    joined_at_kst,
    paid_total,
    paid_orders
from {{ ref('crm_member_value_daily') }}
where
    joined_at_kst
    >= {{ dbt.dateadd('month', -1 * var('recent_high_value_months'), 'end_of_day_kst') }}
    and paid_total >= {{ var('recent_high_value_min_amount') }}
