{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- New and returning visitors of all malls together per KST day: new on the day of their
    first event anywhere on the platform (doc block metric_new_returning); incremental as
    mall_new_returning_daily. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

platform_days as (
    select * from {{ ref('platform_visitors_daily') }}
    {% if is_incremental() %}
    where date_kst >= (select min(date_kst) from rebuild_days)
    {% endif %}
),

first_days as (
    select * from {{ ref('int_weblog__visitor_first_days') }}
    {% if is_incremental() %}
    where first_date_kst >= (select min(date_kst) from rebuild_days)
    {% endif %}
),

new_counts as (
    select
        first_date_kst as date_kst,
        count(*) as new_visitors
    from first_days
    group by first_date_kst
)

select
    platform_days.date_kst,
    platform_days.visitors,
    coalesce(new_counts.new_visitors, 0) as new_visitors,
    platform_days.visitors - coalesce(new_counts.new_visitors, 0) as returning_visitors,
    platform_days._ingested_at
from platform_days
left join new_counts
    on platform_days.date_kst = new_counts.date_kst
