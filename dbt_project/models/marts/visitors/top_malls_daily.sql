{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- The malls with most visitors each day; ties go to the smaller mall_id. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

ranked as (
    select
        date_kst,
        mall_id,
        visitors,
        _ingested_at,
        row_number() over (partition by date_kst order by visitors desc, mall_id asc) as top_rank
    from {{ ref('mall_visitors_daily') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
)

select
    date_kst,
    top_rank,
    mall_id,
    visitors,
    _ingested_at
from ranked
where top_rank <= {{ var('top_malls_limit') }}
