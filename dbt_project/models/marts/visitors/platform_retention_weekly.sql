{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='week_kst',
    )
}}
{#- Weekly retention of the platform (doc block metric_retention): each visitor's cohort is
    the KST week of their first event anywhere; for each later week up to the last week with
    data, how many of the cohort had an event in any mall. Incremental as
    mall_retention_weekly. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
first_rebuilt_week as (
    select cast({{ dbt.date_trunc('week', 'min(date_kst)') }} as date) as week_kst
    from rebuild_days
),
{% endif %}

visitor_days as (
    select
        *,
        cast({{ dbt.date_trunc('week', 'date_kst') }} as date) as week_kst
    from {{ ref('int_weblog__daily_mall_visitors') }}
    {% if is_incremental() %}
    where date_kst >= (select week_kst from first_rebuilt_week)
    {% endif %}
),

first_days as (
    select * from {{ ref('int_weblog__visitor_first_days') }}
),

visitor_weeks as (
    select
        visitor_id,
        week_kst,
        max(_ingested_at) as _ingested_at
    from visitor_days
    group by visitor_id, week_kst
),

cohorts as (
    select
        visitor_id,
        cast({{ dbt.date_trunc('week', 'first_date_kst') }} as date) as cohort_week
    from first_days
),

-- Every week with data on the platform: the offsets each cohort is followed for.
weeks as (
    select
        week_kst,
        max(_ingested_at) as _ingested_at
    from visitor_weeks
    group by week_kst
),

cohort_sizes as (
    select
        cohort_week,
        count(*) as cohort_size
    from cohorts
    {% if is_incremental() %}
    where cohort_week >= (select week_kst from first_rebuilt_week)
    {% endif %}
    group by cohort_week
    {% if is_incremental() %}
    union all
    select distinct
        cohort_week,
        cohort_size
    from {{ this }}
    where cohort_week < (select week_kst from first_rebuilt_week)
    {% endif %}
),

retained as (
    select
        cohorts.cohort_week,
        visitor_weeks.week_kst,
        count(*) as retained_visitors
    from cohorts
    inner join visitor_weeks
        on
            cohorts.visitor_id = visitor_weeks.visitor_id
            and cohorts.cohort_week <= visitor_weeks.week_kst
    group by cohorts.cohort_week, visitor_weeks.week_kst
),

followed as (
    select
        cohort_sizes.cohort_week,
        cohort_sizes.cohort_size,
        weeks.week_kst,
        weeks._ingested_at
    from cohort_sizes
    inner join weeks
        on cohort_sizes.cohort_week <= weeks.week_kst
)

select
    followed.cohort_week,
    followed.week_kst,
    -- whole weeks: both are Mondays
    cast(
        {{ dbt.datediff('followed.cohort_week', 'followed.week_kst', 'day') }} / 7 as integer  -- noqa: LT05
    ) as week_offset,
    followed.cohort_size,
    coalesce(retained.retained_visitors, 0) as retained_visitors,
    followed._ingested_at
from followed
left join retained
    on
        followed.cohort_week = retained.cohort_week
        and followed.week_kst = retained.week_kst
