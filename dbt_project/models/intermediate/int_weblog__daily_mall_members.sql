{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Which logged-in members visited which mall on which KST day (members_visited). -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

events as (
    select *
    from {{ ref('stg_weblog__events') }}
    where member_id is not null
    {% if is_incremental() %}
        and date_kst in (select date_kst from rebuild_days)
    {% endif %}
)

select
    date_kst,
    month_kst,
    mall_id,
    member_id,
    count(*) as hits,
    max(_ingested_at) as _ingested_at
from events
group by date_kst, month_kst, mall_id, member_id
