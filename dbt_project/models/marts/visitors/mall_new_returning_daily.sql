{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- New and returning visitors per mall and KST day (doc block metric_new_returning). A
    visitor is new on the day of their first event in the mall. A late event can make them
    new on a rebuilt day and returning on a later day they were new on before, never on an
    earlier one: an incremental run counts every day from the first rebuilt one on again. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

mall_days as (
    select * from {{ ref('mall_visitors_daily') }}
    {% if is_incremental() %}
    where date_kst >= (select min(date_kst) from rebuild_days)
    {% endif %}
),

first_days as (
    select * from {{ ref('int_weblog__mall_visitor_first_days') }}
    {% if is_incremental() %}
    where first_date_kst >= (select min(date_kst) from rebuild_days)
    {% endif %}
),

new_counts as (
    select
        mall_id,
        first_date_kst as date_kst,
        count(*) as new_visitors
    from first_days
    group by mall_id, first_date_kst
)

select
    mall_days.mall_id,
    mall_days.date_kst,
    mall_days.visitors,
    coalesce(new_counts.new_visitors, 0) as new_visitors,
    mall_days.visitors - coalesce(new_counts.new_visitors, 0) as returning_visitors,
    mall_days._ingested_at
from mall_days
left join new_counts
    on
        mall_days.mall_id = new_counts.mall_id
        and mall_days.date_kst = new_counts.date_kst
