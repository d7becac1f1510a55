{#- unused_coupons as of each day D: members holding at least one coupon (current state)
    issued before the end of D, not used before the end of D (used_at null or at/after it)
    and not expired by then (expires_at null or at/after it: a coupon expiring exactly at
    the end of D still counts). Members of any status. -#}
with

days as (
    select * from {{ ref('int_calendar__as_of_days') }}
)

select
    days.as_of_date,
    coupons.mall_id,
    coupons.member_id,
    count(*) as unused_coupons
from days
inner join {{ ref('stg_shop__coupons') }} as coupons
    on
        days.end_of_day_kst > coupons.issued_at_kst
        and (coupons.used_at_kst is null or days.end_of_day_kst <= coupons.used_at_kst)
        and (coupons.expires_at_kst is null or days.end_of_day_kst <= coupons.expires_at_kst)
where coupons.member_id is not null
group by 1, 2, 3
