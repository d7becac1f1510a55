{#- Who read which customer segment, when, and how many members it returned. -#}
select
    read_at,
    {{ to_kst('read_at') }} as read_at_kst,
    key_id,
    key_name,
    segment,
    mall_id,
    as_of,
    format,
    parameters,
    page,
    rows as member_rows
from {{ source('audit', 'segment_reads') }}
