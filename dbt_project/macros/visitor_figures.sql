{#- The visitor statistics of metrics.md for one bucket grain, per mall or platform-wide.
    visitors and members_visited are distinct counts over the whole bucket (never sums of
    smaller buckets); a session counts in the bucket of its first event. -#}
{% macro visitor_figures(bucket, per_mall) -%}
    {%- set keys = (['mall_id'] if per_mall else []) + [bucket] -%}
    with

    {% if is_incremental() %}
    {{ rebuild_days_ctes() }}
    {% endif %}

    events as (
        select *
        from {{ ref('stg_weblog__events') }}
        {% if is_incremental() %}
        where date_kst in (select date_kst from rebuild_days)
        {% endif %}
    ),

    event_figures as (
        select
            {{ keys | join(', ') }},
            count(distinct visitor_id) as visitors,
            cast(sum(case when event_type in ('page_view', 'product_view') then 1 else 0 end) as bigint) as page_views,
            count(*) as hits,
            count(distinct member_id) as members_visited,
            max(_ingested_at) as _ingested_at
        from events
        group by {{ keys | join(', ') }}
    ),

    session_counts as (
        select {{ keys | join(', ') }}, count(*) as sessions
        from {{ ref('int_weblog__sessions') }}
        {% if is_incremental() %}
        where date_kst in (select date_kst from rebuild_days)
        {% endif %}
        group by {{ keys | join(', ') }}
    )

    select
        {% for key in keys %}event_figures.{{ key }},{% endfor %}
        {% if bucket == 'hour_kst' %}cast(event_figures.hour_kst as date) as date_kst,{% endif %}
        event_figures.visitors,
        event_figures.page_views,
        event_figures.hits,
        coalesce(session_counts.sessions, 0) as sessions,
        event_figures.members_visited,
        event_figures._ingested_at
    from event_figures
    left join session_counts
        on {% for key in keys %}event_figures.{{ key }} = session_counts.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
{%- endmacro %}

{#- Monthly figures: distinct visitors and members over the month from the daily sets,
    events summed from the daily mart, sessions by the month of their first event. -#}
{% macro monthly_visitor_figures(per_mall) -%}
    {%- set keys = (['mall_id'] if per_mall else []) + ['month_kst'] -%}
    {%- set daily = ref('mall_visitors_daily') -%}
    -- depends_on: {{ ref('stg_weblog__events') }}
    with

    {% if is_incremental() %}
    {{ rebuild_days_ctes() }}
    rebuild_months as (
        select distinct cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
        from rebuild_days
    ),
    {% endif %}

    visitor_days as (
        select * from {{ ref('int_weblog__daily_mall_visitors') }}
        {% if is_incremental() %}where month_kst in (select month_kst from rebuild_months){% endif %}
    ),

    member_days as (
        select * from {{ ref('int_weblog__daily_mall_members') }}
        {% if is_incremental() %}where month_kst in (select month_kst from rebuild_months){% endif %}
    ),

    day_figures as (
        select *, cast({{ dbt.date_trunc('month', 'date_kst') }} as date) as month_kst
        from {{ daily }}
        {% if is_incremental() %}
        where cast({{ dbt.date_trunc('month', 'date_kst') }} as date) in (select month_kst from rebuild_months)
        {% endif %}
    ),

    visitors as (
        select {{ keys | join(', ') }}, count(distinct visitor_id) as visitors
        from visitor_days group by {{ keys | join(', ') }}
    ),

    members as (
        select {{ keys | join(', ') }}, count(distinct member_id) as members_visited
        from member_days group by {{ keys | join(', ') }}
    ),

    events as (
        select
            {{ keys | join(', ') }},
            cast(sum(page_views) as bigint) as page_views,
            cast(sum(hits) as bigint) as hits,
            max(_ingested_at) as _ingested_at
        from day_figures
        group by {{ keys | join(', ') }}
    ),

    sessions as (
        select {{ keys | join(', ') }}, count(*) as sessions
        from {{ ref('int_weblog__sessions') }}
        {% if is_incremental() %}where month_kst in (select month_kst from rebuild_months){% endif %}
        group by {{ keys | join(', ') }}
    )

    select
        {% for key in keys %}events.{{ key }},{% endfor %}
        coalesce(visitors.visitors, 0) as visitors,
        events.page_views,
        events.hits,
        coalesce(sessions.sessions, 0) as sessions,
        coalesce(members.members_visited, 0) as members_visited,
        events._ingested_at
    from events
    {% for cte in ['visitors', 'members', 'sessions'] %}
    left join {{ cte }}
        on {% for key in keys %}events.{{ key }} = {{ cte }}.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
    {% endfor %}
{%- endmacro %}
