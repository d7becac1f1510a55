{{ config(severity='warn') }}
{#- Warns for each mall that had hits the day before a checked day and has none on it: its
    shop, its tracking script or its share of the weblog pipeline has stopped. -#}
select
    mall_id,
    date_kst,
    hits_day_before
from {{ ref('mall_volume_checks') }}
where volume_status = 'stopped'
