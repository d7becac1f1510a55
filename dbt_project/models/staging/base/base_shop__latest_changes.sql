{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['table_name', 'id'],
        on_schema_change='sync_all_columns',
    )
}}
{#- The latest change of every row of every shop table, by binlog position. Incremental:
    only changes ingested since the last run are read, and each competes with the stored
    latest change of its row, so an old change redelivered late never wins. Deletes are kept
    (op 'd') so that a redelivered older change cannot bring a deleted row back; the
    staging models leave them out. The row itself (`after`) is not kept here: it may hold
    personal data (a member's e-mail), which stays in raw; base_shop__rows_in_use reads it
    from raw through these pointers. -#}

{%- set tables = [
    'malls', 'members', 'products', 'orders', 'cart_items', 'coupons', 'app_installs'
] %}

with

new_changes as (
    {% for table in tables %}
        select
            '{{ table }}' as table_name,
            id,
            op,
            source_file,
            source_pos,
            source_row,
            _kafka_partition,
            _kafka_offset,
            _ingested_at
        from {{ source('raw', 'shop_' ~ table) }}
        {% if is_incremental() %}
        where {{ ingested_since_last_run() }}
        {% endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

candidates as (
    select * from new_changes
    {% if is_incremental() %}
    union all
    select stored.*
    from {{ this }} as stored
    where exists (
        select 1 from new_changes
        where new_changes.table_name = stored.table_name and new_changes.id = stored.id
    )
    {% endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by table_name, id
            order by
                source_file desc, source_pos desc, source_row desc,
                _kafka_partition desc, _kafka_offset desc
        ) as recency
    from candidates
)

select
    table_name,
    id,
    op,
    source_file,
    source_pos,
    source_row,
    _kafka_partition,
    _kafka_offset,
    _ingested_at
from ranked
where recency = 1
