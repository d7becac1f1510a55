{#- Order statistics of all malls together per KST month: sums of platform_orders_daily over
    the month, aov recomputed from the sums. -#}

with

platform_days as (
    select * from {{ ref('platform_orders_daily') }}
),

summed as (
    select
        cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst,
        cast(sum(orders_paid) as bigint) as orders_paid,
        cast(sum(revenue) as bigint) as revenue,
        cast(sum(orders_cancelled) as bigint) as orders_cancelled
    from platform_days
    group by 1
)

select
    month_kst,
    orders_paid,
    revenue,
    case when orders_paid > 0 then cast(revenue as double) / orders_paid end as aov,
    orders_cancelled
from summed
