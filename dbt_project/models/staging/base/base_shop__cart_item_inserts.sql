{#- Every cart item ever inserted (op c), from the change history: items deleted since
    (removed or ordered) still count for abandoned carts. A redelivered insert is the same
    row, so one row per cart item: its first delivery by binlog position. -#}
with inserts as (
    select
        id,
        after,
        row_number() over (partition by id order by source_file, source_pos, source_row) as delivery
    from {{ source('raw', 'shop_cart_items') }}
    where op = 'c'
)

select id, after
from inserts
where delivery = 1
