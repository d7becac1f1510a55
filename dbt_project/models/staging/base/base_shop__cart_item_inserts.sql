{#- Every cart item ever inserted (op c), from the change history: items deleted since
    (removed or ordered) still count for abandoned carts. A redelivered insert is the same
    row, so one row per cart item: its first delivery by binlog position. Pointers to the
    raw change only (base_shop__rows_in_use reads the row). -#}
with inserts as (
    select
        id,
        _kafka_partition,
        _kafka_offset,
        row_number() over (
            partition by id
            order by source_file, source_pos, source_row, _kafka_partition, _kafka_offset
        ) as delivery
    from {{ source('raw', 'shop_cart_items') }}
    where op = 'c'
)

select
    id,
    _kafka_partition,
    _kafka_offset
from inserts
where delivery = 1
