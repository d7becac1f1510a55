{#- abandoned_cart as of each day D: members with at least one cart item inserted (from the
    change history: items deleted since still count) whose added_at is within the
    abandoned_cart_days (7) days before the end of D, and no order paid from the earliest
    such added_at (inclusive) to the end of D. Orders of any status count as paid when they
    carry a paid_at. -#}
with

days as (
    select * from {{ ref('int_calendar__as_of_days') }}
),

recent_adds as (
    select
        days.as_of_date,
        days.end_of_day_kst,
        adds.mall_id,
        adds.member_id,
        count(*) as cart_items_added,
        min(adds.added_at_kst) as first_added_at_kst,
        max(adds.added_at_kst) as last_added_at_kst
    from days
    inner join {{ ref('stg_shop__cart_item_inserts') }} as adds
        on
            days.end_of_day_kst > adds.added_at_kst
            and adds.added_at_kst
            >= {{ dbt.dateadd('day', -1 * var('abandoned_cart_days'), 'days.end_of_day_kst') }}
    where adds.member_id is not null
    group by 1, 2, 3, 4
)

select
    recent_adds.as_of_date,
    recent_adds.mall_id,
    recent_adds.member_id,
    recent_adds.cart_items_added,
    recent_adds.first_added_at_kst,
    recent_adds.last_added_at_kst
from recent_adds
where not exists (
    select 1 as paid_after_the_cart
    from {{ ref('stg_shop__orders') }} as orders
    where
        orders.member_id = recent_adds.member_id
        and orders.paid_at_kst >= recent_adds.first_added_at_kst
        and orders.paid_at_kst < recent_adds.end_of_day_kst
)
