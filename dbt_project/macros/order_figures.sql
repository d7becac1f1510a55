{#- Order statistics of metrics.md for a day or month bucket, per mall or platform-wide:
    orders_paid and revenue by paid_at; orders_cancelled by updated_at of orders whose
    current status is cancelled or refunded; aov = revenue / orders_paid (null without
    paid orders). All sums over orders, so platform-wide figures are the same sums. -#}
{% macro order_figures(grain, per_mall) -%}
    {%- set bucket = 'date_kst' if grain == 'day' else 'month_kst' -%}
    {%- set keys = (['mall_id'] if per_mall else []) + [bucket] -%}
    {%- if grain == 'day' -%}
        {%- set paid_bucket = 'cast(paid_at_kst as date)' -%}
        {%- set cancelled_bucket = 'cast(updated_at_kst as date)' -%}
    {%- else -%}
        {%- set paid_bucket = 'cast(' ~ dbt.date_trunc('month', 'paid_at_kst') ~ ' as date)' -%}
        {%- set cancelled_bucket = 'cast(' ~ dbt.date_trunc('month', 'updated_at_kst') ~ ' as date)' -%}
    {%- endif %}
    {#- Grouped by position: Trino does not group by select-list aliases. -#}
    {%- set group_positions = range(1, keys | length + 1) | join(', ') %}
    with

    paid as (
        select
            {% if per_mall %}mall_id,{% endif %}
            {{ paid_bucket }} as {{ bucket }},
            count(*) as orders_paid,
            cast(sum(total_amount) as bigint) as revenue
        from {{ ref('stg_shop__orders') }}
        where paid_at_kst is not null
        group by {{ group_positions }}
    ),

    cancelled as (
        select
            {% if per_mall %}mall_id,{% endif %}
            {{ cancelled_bucket }} as {{ bucket }},
            count(*) as orders_cancelled
        from {{ ref('stg_shop__orders') }}
        where status in ('cancelled', 'refunded') and updated_at_kst is not null
        group by {{ group_positions }}
    ),

    buckets as (
        select {{ keys | join(', ') }} from paid
        union
        select {{ keys | join(', ') }} from cancelled
    )

    select
        {% for key in keys %}buckets.{{ key }},{% endfor %}
        coalesce(paid.orders_paid, 0) as orders_paid,
        coalesce(paid.revenue, 0) as revenue,
        case when paid.orders_paid > 0 then cast(paid.revenue as double) / paid.orders_paid end as aov,
        coalesce(cancelled.orders_cancelled, 0) as orders_cancelled
    from buckets
    {% for cte in ['paid', 'cancelled'] %}
    left join {{ cte }}
        on {% for key in keys %}buckets.{{ key }} = {{ cte }}.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
    {% endfor %}
{%- endmacro %}

{#- The weblog funnel per KST day: sessions (by their first event's day) reaching each step,
    and each step's conversion to purchase = sessions reaching the step and purchase /
    sessions reaching the step (null when none reached it). -#}
{% macro funnel_figures(per_mall) -%}
    {%- set keys = (['mall_id'] if per_mall else []) + ['date_kst'] -%}
    with counts as (
        select
            {{ keys | join(', ') }},
            count(*) as sessions,
            {% for step in ['product_view', 'add_to_cart', 'checkout', 'purchase'] %}
            cast(sum(case when has_{{ step }} then 1 else 0 end) as bigint) as {{ step }}_sessions,
            {% endfor %}
            {% for step in ['product_view', 'add_to_cart', 'checkout'] %}
            cast(sum(case when has_{{ step }} and has_purchase then 1 else 0 end) as bigint) as {{ step }}_purchased,
            {% endfor %}
            max(_ingested_at) as _ingested_at
        from {{ ref('int_weblog__sessions') }}
        group by {{ keys | join(', ') }}
    )

    select
        {{ keys | join(', ') }},
        sessions,
        product_view_sessions,
        add_to_cart_sessions,
        checkout_sessions,
        purchase_sessions,
        {% for step in ['product_view', 'add_to_cart', 'checkout'] %}
        case when {{ step }}_sessions > 0
            then cast({{ step }}_purchased as double) / {{ step }}_sessions end as {{ step }}_to_purchase,
        {% endfor %}
        _ingested_at
    from counts
{%- endmacro %}
