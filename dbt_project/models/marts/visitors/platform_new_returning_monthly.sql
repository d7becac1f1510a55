{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- New and returning visitors of all malls together per KST month: new in the month of
    their first event anywhere; visitors distinct over the month and across malls.
    Incremental as mall_new_returning_monthly. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

platform_months as (
    select * from {{ ref('platform_visitors_monthly') }}
    {% if is_incremental() %}
    where month_kst >= (select cast({{ dbt.date_trunc('month', 'min(date_kst)') }} as date) from rebuild_days)
    {% endif %}
),

first_days as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'first_date_kst') }} as date) as first_month_kst
    from {{ ref('int_weblog__visitor_first_days') }}
    {% if is_incremental() %}
    where first_date_kst >= (select cast({{ dbt.date_trunc('month', 'min(date_kst)') }} as date) from rebuild_days)
    {% endif %}
),

new_counts as (
    select
        first_month_kst as month_kst,
        count(*) as new_visitors
    from first_days
    group by first_month_kst
)

select
    platform_months.month_kst,
    platform_months.visitors,
    coalesce(new_counts.new_visitors, 0) as new_visitors,
    platform_months.visitors - coalesce(new_counts.new_visitors, 0) as returning_visitors,
    platform_months._ingested_at
from platform_months
left join new_counts
    on platform_months.month_kst = new_counts.month_kst
