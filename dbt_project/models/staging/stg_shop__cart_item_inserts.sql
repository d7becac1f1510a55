{#- Every cart item ever inserted (op c), deleted ones included: abandoned carts count them.
    An insert with a value that cannot be read (stg_shop__invalid_values) is left out. -#}
with

inserts as (
    select
        id,
        {{ json_fields('after') }} as after_fields
    from {{ ref('base_shop__rows_in_use') }}
    where table_name = 'cart_items' and read_as = 'insert history'
),

unreadable_inserts as (
    select row_id
    from {{ ref('stg_shop__invalid_values') }}
    where table_name = 'cart_items' and read_as = 'insert history'
)

select
    id as cart_item_id,
    {{ shop_integer('after_fields', 'mall_id') }} as mall_id,
    {{ shop_integer('after_fields', 'member_id') }} as member_id,
    {{ shop_integer('after_fields', 'product_id') }} as product_id,
    {{ shop_datetime_kst('after_fields', 'added_at') }} as added_at_kst
from inserts
where id not in (select unreadable_inserts.row_id from unreadable_inserts)
