{#- Every cart item ever inserted (op c), from the change history: items deleted since
    (removed or ordered) still count for abandoned carts. A redelivered insert is the same
    row, so one row per cart item. -#}
with inserts as (
    select
        id,
        after,
        row_number() over (partition by id order by source_file, source_pos, source_row) as delivery
    from {{ source('raw', 'shop_cart_items') }}
    where op = 'c'
)

select
    id as cart_item_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_bigint('after', 'member_id') }} as member_id,
    {{ json_bigint('after', 'product_id') }} as product_id,
    {{ epoch_ms_to_kst(json_bigint('after', 'added_at')) }} as added_at_kst
from inserts
where delivery = 1
