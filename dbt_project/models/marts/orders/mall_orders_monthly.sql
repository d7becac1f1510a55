{#- Order statistics per mall and KST month: sums of mall_orders_daily over the month (every
    figure is a count or a sum over orders), aov recomputed from the month's sums. -#}

with

mall_days as (
    select * from {{ ref('mall_orders_daily') }}
),

summed as (
    select
        mall_id,
        cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst,
        cast(sum(orders_paid) as bigint) as orders_paid,
        cast(sum(revenue) as bigint) as revenue,
        cast(sum(orders_cancelled) as bigint) as orders_cancelled
    from mall_days
    group by 1, 2
)

select
    mall_id,
    month_kst,
    orders_paid,
    revenue,
    case when orders_paid > 0 then cast(revenue as double) / orders_paid end as aov,
    orders_cancelled
from summed
