{#- Every mall in its current state (closed malls included, with their status). -#}
select
    mall_id,
    mall_name,
    plan,
    status,
    created_at_kst
from {{ ref('stg_shop__malls') }}
