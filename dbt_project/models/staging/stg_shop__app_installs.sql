with current_rows as (
    {{ cdc_current_state('app_installs') }}
)

select
    id as install_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_text('after', 'device_id') }} as device_id,
    {{ json_text('after', 'platform') }} as platform,
    {{ epoch_ms_to_kst(json_bigint('after', 'installed_at')) }} as installed_at_kst,
    {{ epoch_ms_to_kst(json_bigint('after', 'uninstalled_at')) }} as uninstalled_at_kst
from current_rows
