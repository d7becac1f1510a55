{{ config(severity='warn') }}
{#- Warns for each mall whose hits on a checked day are below volume_band_low or above
    volume_band_high times its average of the seven days before (mall_volume_checks). The
    build goes on; the daily DAG sends the warning to the alert webhook. -#}
select
    mall_id,
    date_kst,
    hits,
    trailing_average_hits,
    hits_ratio,
    volume_status
from {{ ref('mall_volume_checks') }}
where volume_status in ('low', 'high')
