with current_rows as (
    {{ cdc_current_state('coupons') }}
)

select
    id as coupon_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_bigint('after', 'member_id') }} as member_id,
    {{ json_text('after', 'campaign') }} as campaign,
    {{ epoch_ms_to_kst(json_bigint('after', 'issued_at')) }} as issued_at_kst,
    {{ epoch_ms_to_kst(json_bigint('after', 'used_at')) }} as used_at_kst,
    {{ epoch_ms_to_kst(json_bigint('after', 'expires_at')) }} as expires_at_kst
from current_rows
