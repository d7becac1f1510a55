{{
    config(
        materialized='incremental',
        incremental_strategy='rebuild_days',
        properties={'partitioning': "ARRAY['date_kst']"},
    )
}}
{#- Per mall and day, the products with most product_view events; ties go to the smaller
    product_id. -#}

with

{% if is_incremental() %}
{{ rebuild_days_ctes() }}
{% endif %}

product_views as (
    select
        date_kst,
        mall_id,
        product_id,
        count(*) as product_views,
        max(_ingested_at) as _ingested_at
    from {{ ref('stg_weblog__events') }}
    where
        event_type = 'product_view'
        and product_id is not null
    {% if is_incremental() %}
        and date_kst in (select date_kst from rebuild_days)
    {% endif %}
    group by date_kst, mall_id, product_id
),

ranked as (
    select
        *,
        row_number()
            over (partition by date_kst, mall_id order by product_views desc, product_id asc)
            as top_rank
    from product_views
)

select
    date_kst,
    mall_id,
    top_rank,
    product_id,
    product_views,
    _ingested_at
from ranked
where top_rank <= {{ var('top_products_limit') }}
