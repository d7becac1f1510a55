with

current_rows as (
    select
        id,
        {{ json_fields('after') }} as after_fields
    from {{ ref('base_shop__rows_in_use') }}
    where table_name = 'malls' and read_as = 'current state'
),

unreadable_rows as (
    select row_id
    from {{ ref('stg_shop__invalid_values') }}
    where table_name = 'malls' and read_as = 'current state'
)

select
    id as mall_id,
    {{ shop_text('after_fields', 'name') }} as mall_name,
    {{ shop_text('after_fields', 'plan') }} as plan,
    {{ shop_text('after_fields', 'status') }} as status,
    {{ shop_datetime_kst('after_fields', 'created_at') }} as created_at_kst
from current_rows
where id not in (select unreadable_rows.row_id from unreadable_rows)
