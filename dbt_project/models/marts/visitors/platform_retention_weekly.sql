{#- Weekly retention of the platform (doc block metric_retention): each visitor's cohort is
    the KST week of their first event anywhere; for each later week up to the last week with
    data, how many of the cohort had an event in any mall. Counted again on each run. -#}

with

visitor_days as (
    select * from {{ ref('int_weblog__daily_mall_visitors') }}
),

first_days as (
    select * from {{ ref('int_weblog__visitor_first_days') }}
),

visitor_weeks as (
    select distinct
        visitor_id,
        cast({{ dbt.date_trunc('week', 'date_kst') }} as date) as week_kst
    from visitor_days
),

cohorts as (
    select
        visitor_id,
        cast({{ dbt.date_trunc('week', 'first_date_kst') }} as date) as cohort_week
    from first_days
),

weeks as (
    select distinct week_kst from visitor_weeks
),

cohort_sizes as (
    select
        cohort_week,
        count(*) as cohort_size
    from cohorts
    group by cohort_week
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
        weeks.week_kst
    from cohort_sizes
    inner join weeks
        on cohort_sizes.cohort_week <= weeks.week_kst
)

select
    followed.cohort_week,
    -- whole weeks: both are Mondays
    cast(
        {{ dbt.datediff('followed.cohort_week', 'followed.week_kst', 'day') }} / 7 as integer  -- noqa: LT05
    ) as week_offset,
    followed.cohort_size,
    coalesce(retained.retained_visitors, 0) as retained_visitors
from followed
left join retained
    on
        followed.cohort_week = retained.cohort_week
        and followed.week_kst = retained.week_kst
