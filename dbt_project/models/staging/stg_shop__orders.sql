with current_rows as (
    {{ cdc_current_state('orders') }}
)

select
    id as order_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_bigint('after', 'member_id') }} as member_id,
    {{ json_text('after', 'status') }} as status,
    {{ json_bigint('after', 'total_amount') }} as total_amount,
    {{ epoch_ms_to_kst(json_bigint('after', 'created_at')) }} as created_at_kst,
    {{ epoch_ms_to_kst(json_bigint('after', 'paid_at')) }} as paid_at_kst,
    {{ epoch_ms_to_kst(json_bigint('after', 'updated_at')) }} as updated_at_kst
from current_rows
