with current_rows as (
    {{ cdc_current_state('cart_items') }}
)

select
    id as cart_item_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_bigint('after', 'member_id') }} as member_id,
    {{ json_bigint('after', 'product_id') }} as product_id,
    {{ json_bigint('after', 'quantity') }} as quantity,
    {{ epoch_ms_to_kst(json_bigint('after', 'added_at')) }} as added_at_kst
from current_rows
