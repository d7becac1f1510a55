{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- New and returning visitors per mall and KST month: new in the month holding their first
    event in the mall; visitors distinct over the month (mall_visitors_monthly). An
    incremental run counts every month from the first rebuilt day's on again, as
    mall_new_returning_daily does days. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

mall_months as (
    select * from {{ ref('mall_visitors_monthly') }}
    {% if is_incremental() %}
    where month_kst >= (select cast({{ dbt.date_trunc('month', 'min(date_kst)') }} as date) from rebuild_days)
    {% endif %}
),

first_days as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'first_date_kst') }} as date) as first_month_kst
    from {{ ref('int_weblog__mall_visitor_first_days') }}
    {% if is_incremental() %}
    where first_date_kst >= (select cast({{ dbt.date_trunc('month', 'min(date_kst)') }} as date) from rebuild_days)
    {% endif %}
),

new_counts as (
    select
        mall_id,
        first_month_kst as month_kst,
        count(*) as new_visitors
    from first_days
    group by mall_id, first_month_kst
)

select
    mall_months.mall_id,
    mall_months.month_kst,
    mall_months.visitors,
    coalesce(new_counts.new_visitors, 0) as new_visitors,
    mall_months.visitors - coalesce(new_counts.new_visitors, 0) as returning_visitors,
    mall_months._ingested_at
from mall_months
left join new_counts
    on
        mall_months.mall_id = new_counts.mall_id
        and mall_months.month_kst = new_counts.month_kst
