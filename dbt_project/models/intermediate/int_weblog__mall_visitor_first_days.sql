{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['mall_id', 'visitor_id'],
    )
}}
{#- Each visitor's first KST day in each mall, over all data loaded so far. Raw data is only
    ever added to, so an incremental run takes, for the visitors of the days it rebuilds,
    the earliest of the day it knew and their days among those rebuilt: a late event can
    move a first day earlier, never later. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

rebuilt_visitor_days as (
    select
        mall_id,
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
    select distinct mall_id, visitor_id
    from rebuilt_visitor_days
),

-- The first day known before counts as one more day of these visitors.
known_first_days as (
    select
        known.mall_id,
        known.visitor_id,
        known.first_date_kst as date_kst,
        known._ingested_at
    from {{ this }} as known
    inner join touched
        on
            known.mall_id = touched.mall_id
            and known.visitor_id = touched.visitor_id
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
    mall_id,
    visitor_id,
    min(date_kst) as first_date_kst,
    max(_ingested_at) as _ingested_at
from candidate_days
group by mall_id, visitor_id
