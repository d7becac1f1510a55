with

current_rows as (
    select
        id,
        after
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
    {{ shop_integer('after', 'mall_id') }} as mall_id,
    {{ shop_integer('after', 'member_id') }} as member_id,
    {{ shop_text('after', 'campaign') }} as campaign,
    {{ shop_datetime_kst('after', 'issued_at') }} as issued_at_kst,
    {{ shop_datetime_kst('after', 'used_at') }} as used_at_kst,
    {{ shop_datetime_kst('after', 'expires_at') }} as expires_at_kst
from current_rows
where id not in (select unreadable_rows.row_id from unreadable_rows)
