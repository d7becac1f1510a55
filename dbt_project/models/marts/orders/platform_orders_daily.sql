{#- Order statistics of all malls together per KST day: sums of mall_orders_daily, aov
    recomputed from the sums. -#}

with

mall_days as (
    select * from {{ ref('mall_orders_daily') }}
),

summed as (
    select
        date_kst,
        cast(sum(orders_paid) as bigint) as orders_paid,
        cast(sum(revenue) as bigint) as revenue,
        cast(sum(orders_cancelled) as bigint) as orders_cancelled
    from mall_days
    group by date_kst
)

select
    date_kst,
    orders_paid,
    revenue,
    case when orders_paid > 0 then cast(revenue as double) / orders_paid end as aov,
    orders_cancelled
from summed
