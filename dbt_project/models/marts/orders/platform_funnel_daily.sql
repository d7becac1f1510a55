{#- The weblog funnel of all malls together per KST day: mall_funnel_daily's figures over
    every session of the day. The conversions are ratios, not sums, so they are computed
    from the sessions, not from the malls' rows. -#}

with

sessions as (
    select * from {{ ref('int_weblog__sessions') }}
),

step_counts as (
    select
        date_kst,
        count(*) as sessions,
        cast(sum(case when has_product_view then 1 else 0 end) as bigint) as product_view_sessions,
        cast(sum(case when has_add_to_cart then 1 else 0 end) as bigint) as add_to_cart_sessions,
        cast(sum(case when has_checkout then 1 else 0 end) as bigint) as checkout_sessions,
        cast(sum(case when has_purchase then 1 else 0 end) as bigint) as purchase_sessions,
        cast(sum(case when has_product_view and has_purchase then 1 else 0 end) as bigint)
            as product_view_purchased,
        cast(sum(case when has_add_to_cart and has_purchase then 1 else 0 end) as bigint)
            as add_to_cart_purchased,
        cast(sum(case when has_checkout and has_purchase then 1 else 0 end) as bigint)
            as checkout_purchased,
        max(_ingested_at) as _ingested_at
    from sessions
    group by date_kst
)

select
    date_kst,
    sessions,
    product_view_sessions,
    add_to_cart_sessions,
    checkout_sessions,
    purchase_sessions,
    case
        when product_view_sessions > 0
            then cast(product_view_purchased as double) / product_view_sessions
    end as product_view_to_purchase,
    case
        when add_to_cart_sessions > 0
            then cast(add_to_cart_purchased as double) / add_to_cart_sessions
    end as add_to_cart_to_purchase,
    case
        when checkout_sessions > 0
            then cast(checkout_purchased as double) / checkout_sessions
    end as checkout_to_purchase,
    _ingested_at
from step_counts
