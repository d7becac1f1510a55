{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Per mall and KST day, the traffic sources that brought most sessions (doc blocks
    metric_traffic_source, metric_traffic_sources); ties go to the smaller source. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

sources as (
    select
        date_kst,
        mall_id,
        traffic_source,
        count(*) as sessions,
        max(_ingested_at) as _ingested_at
    from {{ ref('int_weblog__sessions') }}
    {% if is_incremental() %}
    where date_kst in (select date_kst from rebuild_days)
    {% endif %}
    group by date_kst, mall_id, traffic_source
),

ranked as (
    select
        *,
        row_number()
            over (partition by date_kst, mall_id order by sessions desc, traffic_source asc)
            as top_rank
    from sources
)

select
    date_kst,
    mall_id,
    top_rank,
    traffic_source,
    sessions,
    _ingested_at
from ranked
where top_rank <= {{ var('top_sources_limit') }}
