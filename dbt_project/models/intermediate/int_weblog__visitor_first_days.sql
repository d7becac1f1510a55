{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='visitor_id',
    )
}}
{#- Each visitor's first KST day anywhere on the platform (in any mall), over all data
    loaded so far; incremental as int_weblog__mall_visitor_first_days. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

rebuilt_visitor_days as (
    select
        visitor_id,
        date_kst,
        _ingested_at
    from {{ ref('int_weblog__daily_mall_visitors') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
),

{% if is_incremental() %}
touched as (
    select distinct visitor_id
    from rebuilt_visitor_days
),

-- The first day known before counts as one more day of these visitors.
known_first_days as (
    select
        known.visitor_id,
        known.first_date_kst as date_kst,
        known._ingested_at
    from {{ this }} as known
    inner join touched
        on
            known.visitor_id = touched.visitor_id
),
{% endif %}

candidate_days as (
    select * from rebuilt_visitor_days
    {% if is_incremental() %}
    union all
    select * from known_first_days
    {% endif %}
)

select
    visitor_id,
    min(date_kst) as first_date_kst,
    max(_ingested_at) as _ingested_at
from candidate_days
group by visitor_id
