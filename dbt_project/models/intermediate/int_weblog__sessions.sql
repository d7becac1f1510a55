{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- One row per session: a maximal run of one visitor's events in one mall where every gap
    is at most session_gap_minutes (exactly the gap is still the same session). A session
    belongs to the hour, day and month of its first event.
    Whether an event starts a session depends only on the events up to session_gap_minutes
    before it, so reading from that long before the first rebuilt day decides every start
    on the rebuilt days exactly; later events are read so that sessions running past
    midnight are complete. Of events at the same instant the smaller event_id comes first:
    the first event, whose channel, url and traffic source the session keeps, is decided. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

events as (
    select
        event_id,
        mall_id,
        visitor_id,
        event_at_kst,
        event_type,
        channel,
        url,
        traffic_source,
        _ingested_at
    from {{ ref('stg_weblog__events') }}
    {% if is_incremental() %}
    where event_at_kst >= (
        select {{ dbt.dateadd('minute', -1 * var('session_gap_minutes'), 'cast(min(date_kst) as timestamp)') }}
        from rebuild_days
    )
    {% endif %}
),

flagged as (
    select
        *,
        case
            when lag(event_at_kst) over visitor_timeline is null then 1
            when
                event_at_kst
                > {{ dbt.dateadd(
                    'minute', var('session_gap_minutes'), 'lag(event_at_kst) over visitor_timeline'
                ) }}
                then 1
            else 0
        end as is_session_start
    from events
    window visitor_timeline as (partition by mall_id, visitor_id order by event_at_kst, event_id)
),

numbered as (
    -- The visitor's timeline again: of events at one instant only the first can start a
    -- session (the others are 0 minutes after it), so the start comes first among them and
    -- every event gets its session's number. The same order as above spares the engine a
    -- second sort.
    select
        *,
        sum(is_session_start) over (
            partition by mall_id, visitor_id
            order by event_at_kst, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged
),

sessions as (
    select
        mall_id,
        visitor_id,
        session_number,
        min(event_at_kst) as session_start_kst,
        max(event_at_kst) as session_end_kst,
        count(*) as events,
        -- one event per session starts it: its first
        max(case when is_session_start = 1 then coalesce(channel, 'unknown') end) as first_channel,
        max(case when is_session_start = 1 then url end) as landing_url,
        max(case when is_session_start = 1 then traffic_source end) as traffic_source,
        max(case when event_type = 'product_view' then 1 else 0 end) as reached_product_view,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) as reached_add_to_cart,
        max(case when event_type = 'checkout' then 1 else 0 end) as reached_checkout,
        max(case when event_type = 'purchase' then 1 else 0 end) as reached_purchase,
        max(_ingested_at) as _ingested_at
    from numbered
    group by mall_id, visitor_id, session_number
),

bucketed as (
    select
        *,
        {{ dbt.date_trunc('hour', 'session_start_kst') }} as hour_kst,
        cast(session_start_kst as date) as date_kst,
        cast({{ dbt.date_trunc('month', 'session_start_kst') }} as date) as month_kst
    from sessions
)

select
    {{ dbt.concat([
        'cast(mall_id as varchar)', "'|'", "coalesce(visitor_id, '')", "'|'",
        'cast(session_start_kst as varchar)',
    ]) }} as session_key,
    mall_id,
    visitor_id,
    session_start_kst,
    session_end_kst,
    {{ elapsed_seconds('session_start_kst', 'session_end_kst') }} as session_seconds,
    hour_kst,
    date_kst,
    month_kst,
    events,
    first_channel,
    landing_url,
    traffic_source,
    reached_product_view = 1 as has_product_view,
    reached_add_to_cart = 1 as has_add_to_cart,
    reached_checkout = 1 as has_checkout,
    reached_purchase = 1 as has_purchase,
    _ingested_at
from bucketed
{% if is_incremental() %}
where date_kst in (select date_kst from rebuild_days)
{% endif %}
