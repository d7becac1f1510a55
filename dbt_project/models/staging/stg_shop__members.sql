{#- email is personal data: it is not selected, so nothing downstream can expose it. -#}
with

current_rows as (
    select
        id,
        {{ json_fields('after') }} as after_fields
    from {{ ref('base_shop__rows_in_use') }}
    where table_name = 'members' and read_as = 'current state'
),

unreadable_rows as (
    select row_id
    from {{ ref('stg_shop__invalid_values') }}
    where table_name = 'members' and read_as = 'current state'
)

select
    id as member_id,
    {{ shop_integer('after_fields', 'mall_id') }} as mall_id,
    {{ shop_text('after_fields', 'status') }} as status,
    {{ shop_datetime_kst('after_fields', 'joined_at') }} as joined_at_kst
from current_rows
where id not in (select unreadable_rows.row_id from unreadable_rows)
