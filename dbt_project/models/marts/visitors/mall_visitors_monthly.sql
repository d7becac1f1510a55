{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_months',
        properties={'partitioning': "ARRAY['month_kst']"},
    )
}}
{#- Visitor statistics per mall and KST month. page_views and hits are sums of
    mall_visitors_daily; visitors and members_visited are distinct over the whole month
    (a visitor of ten days counts once), taken over the daily visitor and member sets; a
    session counts in the month of its first event. An incremental run rebuilds the months
    of the days it rebuilds. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
rebuild_months as (
    select distinct cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from rebuild_days
),
{% endif %}

mall_days as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
    from {{ ref('mall_visitors_daily') }}
),

visitor_days as (
    select * from {{ ref('int_weblog__daily_mall_visitors') }}
),

member_days as (
    select * from {{ ref('int_weblog__daily_mall_members') }}
),

sessions as (
    select * from {{ ref('int_weblog__sessions') }}
),

summed as (
    select
        mall_id,
        month_kst,
        cast(sum(page_views) as bigint) as page_views,
        cast(sum(hits) as bigint) as hits,
        max(_ingested_at) as _ingested_at
    from mall_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst
),

visitor_counts as (
    select
        mall_id,
        month_kst,
        count(distinct visitor_id) as visitors
    from visitor_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst
),

member_counts as (
    select
        mall_id,
        month_kst,
        count(distinct member_id) as members_visited
    from member_days
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst
),

session_counts as (
    select
        mall_id,
        month_kst,
        count(*) as sessions
    from sessions
    {% if is_incremental() %}
    where month_kst in (select month_kst from rebuild_months)
    {% endif %}
    group by mall_id, month_kst
)

select
    summed.mall_id,
    summed.month_kst,
    coalesce(visitor_counts.visitors, 0) as visitors,
    summed.page_views,
    summed.hits,
    coalesce(session_counts.sessions, 0) as sessions,
    coalesce(member_counts.members_visited, 0) as members_visited,
    summed._ingested_at
from summed
left join visitor_counts
    on
        summed.mall_id = visitor_counts.mall_id
        and summed.month_kst = visitor_counts.month_kst
left join member_counts
    on
        summed.mall_id = member_counts.mall_id
        and summed.month_kst = member_counts.month_kst
left join session_counts
    on
        summed.mall_id = session_counts.mall_id
        and summed.month_kst = session_counts.month_kst
