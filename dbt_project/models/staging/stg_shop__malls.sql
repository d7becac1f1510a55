with current_rows as (
    {{ cdc_current_state('malls') }}
)

select
    id as mall_id,
    {{ json_text('after', 'name') }} as mall_name,
    {{ json_text('after', 'plan') }} as plan,
    {{ json_text('after', 'status') }} as status,
    {{ epoch_ms_to_kst(json_bigint('after', 'created_at')) }} as created_at_kst
from current_rows
