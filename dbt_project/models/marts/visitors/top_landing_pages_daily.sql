{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Per mall and KST day, the URLs that started most sessions (doc block
    metric_landing_pages); ties go to the smaller url. -#}
-- depends_on: {{ ref('stg_weblog__events') }}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

landings as (
    select
        date_kst,
        mall_id,
        landing_url as url,
        count(*) as sessions,
        max(_ingested_at) as _ingested_at
    from {{ ref('int_weblog__sessions') }}
    where
        landing_url is not null
    {% if is_incremental() %}
        and date_kst in (select date_kst from rebuild_days)
    {% endif %}
    group by date_kst, mall_id, landing_url
),

ranked as (
    select
        *,
        row_number()
            over (partition by date_kst, mall_id order by sessions desc, url asc)
            as top_rank
    from landings
)

select
    date_kst,
    mall_id,
    top_rank,
    url,
    sessions,
    _ingested_at
from ranked
where top_rank <= {{ var('top_landing_pages_limit') }}
