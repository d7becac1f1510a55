{#- Every month's platform hits are the distinct hits of its days in staging (retries
    collapsed), and the malls' monthly hits add up to the platform's. Any row returned is a
    discrepancy. -#}
with

staged_months as (
    select
        month_kst,
        count(*) as hits
    from {{ ref('stg_weblog__events') }}
    group by 1
),

platform_months as (
    select
        month_kst,
        hits
    from {{ ref('platform_visitors_monthly') }}
),

mall_months as (
    select
        month_kst,
        sum(hits) as hits
    from {{ ref('mall_visitors_monthly') }}
    group by 1
)

select
    coalesce(staged_months.month_kst, platform_months.month_kst) as month_kst,
    staged_months.hits as staged_hits,
    platform_months.hits as platform_hits,
    mall_months.hits as mall_hits
from staged_months
full outer join platform_months on staged_months.month_kst = platform_months.month_kst
left join mall_months
    on mall_months.month_kst = coalesce(staged_months.month_kst, platform_months.month_kst)
where
    staged_months.hits is null
    or platform_months.hits is null
    or staged_months.hits <> platform_months.hits
    or mall_months.hits is null
    or mall_months.hits <> platform_months.hits
