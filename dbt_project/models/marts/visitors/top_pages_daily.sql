{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Per mall and day, the URLs with most page_views (page_view and product_view events);
    ties go to the smaller url. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

page_views as (
    select
        date_kst,
        mall_id,
        url,
        count(*) as page_views,
        max(_ingested_at) as _ingested_at
    from {{ ref('stg_weblog__events') }}
    where
        event_type in ('page_view', 'product_view')
        and url is not null
    {% if is_incremental() %}
        and date_kst in (select date_kst from rebuild_days)
    {% endif %}
    group by date_kst, mall_id, url
),

ranked as (
    select
        *,
        row_number()
            over (partition by date_kst, mall_id order by page_views desc, url asc)
            as top_rank
    from page_views
)

select
    date_kst,
    mall_id,
    top_rank,
    url,
    page_views,
    _ingested_at
from ranked
where top_rank <= {{ var('top_pages_limit') }}
