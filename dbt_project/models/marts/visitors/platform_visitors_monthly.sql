{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Visitor statistics of all malls together per KST month. page_views, hits and sessions
    are sums of mall_visitors_monthly; visitors and members_visited are distinct over the
    month and across all malls, taken over the daily visitor and member sets. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
rebuild_months as (
    select distinct cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from rebuild_days
),
{% endif %}

mall_months as (
    select * from {{ ref('mall_visitors_monthly') }}
),

visitor_days as (
    select * from {{ ref('int_weblog__daily_mall_visitors') }}
),

member_days as (
    select * from {{ ref('int_weblog__daily_mall_members') }}
),

summed as (
    select
        month_kst,
        cast(sum(page_views) as bigint) as page_views,
        cast(sum(hits) as bigint) as hits,
        cast(sum(sessions) as bigint) as sessions,
        max(_ingested_at) as _ingested_at
    from mall_months
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by month_kst
),

visitor_counts as (
    select
        month_kst,
        count(distinct visitor_id) as visitors
    from visitor_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by month_kst
),

member_counts as (
    select
        month_kst,
        count(distinct member_id) as members_visited
    from member_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by month_kst
)

select
    summed.month_kst,
    coalesce(visitor_counts.visitors, 0) as visitors,
    summed.page_views,
    summed.hits,
    summed.sessions,
    coalesce(member_counts.members_visited, 0) as members_visited,
    summed._ingested_at
from summed
left join visitor_counts
    on summed.month_kst = visitor_counts.month_kst
left join member_counts
    on summed.month_kst = member_counts.month_kst
