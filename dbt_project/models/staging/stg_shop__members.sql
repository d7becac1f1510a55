{#- email is personal data: it is not selected, so nothing downstream can expose it. -#}
with current_rows as (
    {{ cdc_current_state('members') }}
)

select
    id as member_id,
    {{ json_bigint('after', 'mall_id') }} as mall_id,
    {{ json_text('after', 'status') }} as status,
    {{ epoch_ms_to_kst(json_bigint('after', 'joined_at')) }} as joined_at_kst
from current_rows
