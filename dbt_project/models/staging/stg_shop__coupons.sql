with

current_rows as (
    select
        id,
        {{ json_fields('after') }} as after_fields
    from {{ ref('base_shop__rows_in_use') }}
    where table_name = 'coupons' and read_as = 'current state'
),

unreadable_rows as (
    select row_id
    from {{ ref('stg_shop__invalid_values') }}
    where table_name = 'coupons' and read_as = 'current state'
)

select
    id as coupon_id,
    {{ shop_integer('after_fields', 'mall_id') }} as mall_id,
    {{ shop_integer('after_fields', 'member_id') }} as member_id,
    {{ shop_text('after_fields', 'campaign') }} as campaign,
    {{ shop_datetime_kst('after_fields', 'issued_at') }} as issued_at_kst,
    {{ shop_datetime_kst('after_fields', 'used_at') }} as used_at_kst,
    {{ shop_datetime_kst('after_fields', 'expires_at') }} as expires_at_kst
from current_rows
where id not in (select unreadable_rows.row_id from unreadable_rows)
