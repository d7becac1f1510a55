{#- Order statistics per mall and KST day (definitions: the metric docs blocks): an order is
    paid on the day of its paid_at; orders_cancelled counts orders whose current status is
    cancelled or refunded, on the day of their last change (updated_at); aov is revenue per
    paid order, null on a day without one. A row for every mall and day with a paid or a
    cancelled order. -#}

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

paid as (
    select
        mall_id,
        cast(paid_at_kst as date) as date_kst,
        count(*) as orders_paid,
        cast(sum(total_amount) as bigint) as revenue
    from orders
    where paid_at_kst is not null
    -- by position: Trino does not group by select-list aliases
    group by 1, 2
),

cancelled as (
    select
        mall_id,
        cast(updated_at_kst as date) as date_kst,
        count(*) as orders_cancelled
    from orders
    where status in ('cancelled', 'refunded') and updated_at_kst is not null
    group by 1, 2
),

mall_days as (
    select
        mall_id,
        date_kst
    from paid
    union
    select
        mall_id,
        date_kst
    from cancelled
)

select
    mall_days.mall_id,
    mall_days.date_kst,
    coalesce(paid.orders_paid, 0) as orders_paid,
    coalesce(paid.revenue, 0) as revenue,
    case
        when paid.orders_paid > 0 then cast(paid.revenue as double) / paid.orders_paid
    end as aov,
    coalesce(cancelled.orders_cancelled, 0) as orders_cancelled
from mall_days
left join paid
    on
        mall_days.mall_id = paid.mall_id
        and mall_days.date_kst = paid.date_kst
left join cancelled
    on
        mall_days.mall_id = cancelled.mall_id
        and mall_days.date_kst = cancelled.date_kst
