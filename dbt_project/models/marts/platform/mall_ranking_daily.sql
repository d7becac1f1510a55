{#- As of each day D, every mall whose status is active: active members, products on sale,
    orders paid and revenue in the mall_ranking_days (30) days ending with D (paid_at from
    00:00 KST of D-29 to the end of D), and a rank for each (1 = largest; ties share a rank,
    the next rank skips). Members and products are counted in their current state. -#}
with

days as (
    select * from {{ ref('int_calendar__as_of_days') }}
),

malls as (
    select mall_id from {{ ref('stg_shop__malls') }}
    where status = 'active'
),

members as (
    select
        mall_id,
        count(*) as members
    from {{ ref('stg_shop__members') }}
    where status = 'active'
    group by 1
),

products as (
    select
        mall_id,
        count(*) as products
    from {{ ref('stg_shop__products') }}
    where status = 'on_sale'
    group by 1
),

orders as (
    select
        days.as_of_date,
        orders.mall_id,
        count(*) as orders_paid,
        cast(sum(orders.total_amount) as bigint) as revenue
    from days
    inner join {{ ref('stg_shop__orders') }} as orders
        on
            days.end_of_day_kst > orders.paid_at_kst
            and orders.paid_at_kst
            >= {{ dbt.dateadd('day', -1 * var('mall_ranking_days'), 'days.end_of_day_kst') }}
    group by 1, 2
),

figures as (
    select
        days.as_of_date,
        malls.mall_id,
        coalesce(members.members, 0) as members,
        coalesce(products.products, 0) as products,
        coalesce(orders.orders_paid, 0) as orders_paid,
        coalesce(orders.revenue, 0) as revenue
    from days
    cross join malls
    left join members on malls.mall_id = members.mall_id
    left join products on malls.mall_id = products.mall_id
    left join orders on days.as_of_date = orders.as_of_date and malls.mall_id = orders.mall_id
)

select
    *,
    rank() over (partition by as_of_date order by members desc) as members_rank,
    rank() over (partition by as_of_date order by products desc) as products_rank,
    rank() over (partition by as_of_date order by orders_paid desc) as orders_paid_rank,
    rank() over (partition by as_of_date order by revenue desc) as revenue_rank
from figures
