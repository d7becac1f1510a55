with current_rows as (
    {{ cdc_current_state('products') }}
)

select
    id as product_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_text('after', 'name') }} as product_name,
    {{ json_bigint('after', 'price') }} as price,
    {{ json_text('after', 'status') }} as status,
    {{ epoch_ms_to_kst(json_bigint('after', 'created_at')) }} as created_at_kst
from current_rows
