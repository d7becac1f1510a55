{#- As of each day D, every active member who joined within member_value_max_months before
    the end of D, with what they paid before the end of D (orders in status paid, shipped or
    delivered). recent_high_value is a filter of this on joined_at and paid_total; the API
    applies other month windows and amounts the same way. -#}
with

days as (
    select * from {{ ref('int_calendar__as_of_days') }}
),

members as (
    select * from {{ ref('stg_shop__members') }}
    where status = 'active'
),

paid_orders as (
    select
        member_id,
        total_amount,
        paid_at_kst
    from {{ ref('stg_shop__orders') }}
    where
        status in ('paid', 'shipped', 'delivered') and member_id is not null
        and paid_at_kst is not null
),

members_as_of as (
    select
        days.as_of_date,
        days.end_of_day_kst,
        members.*
    from days
    inner join members
        on
            days.end_of_day_kst > members.joined_at_kst
            and members.joined_at_kst
            >= {{ dbt.dateadd(
                'month', -1 * var('member_value_max_months'), 'days.end_of_day_kst'
            ) }}
)

select
    members_as_of.as_of_date,
    members_as_of.end_of_day_kst,
    members_as_of.mall_id,
    members_as_of.member_id,
    members_as_of.joined_at_kst,
    cast(coalesce(sum(paid_orders.total_amount), 0) as bigint) as paid_total,
    count(paid_orders.member_id) as paid_orders
from members_as_of
left join paid_orders
    on
        members_as_of.member_id = paid_orders.member_id
        and members_as_of.end_of_day_kst > paid_orders.paid_at_kst
group by 1, 2, 3, 4, 5
