with

current_rows as (
    select
        id,
        after
    from {{ ref('base_shop__rows_in_use') }}
    where table_name = 'cart_items' and read_as = 'current state'
),

unreadable_rows as (
    select row_id
    from {{ ref('stg_shop__invalid_values') }}
    where table_name = 'cart_items' and read_as = 'current state'
)

select
    id as cart_item_id,
    {{ shop_integer('after', 'mall_id') }} as mall_id,
    {{ shop_integer('after', 'member_id') }} as member_id,
    {{ shop_integer('after', 'product_id') }} as product_id,
    {{ shop_integer('after', 'quantity') }} as quantity,
    {{ shop_datetime_kst('after', 'added_at') }} as added_at_kst
from current_rows
where id not in (select unreadable_rows.row_id from unreadable_rows)
