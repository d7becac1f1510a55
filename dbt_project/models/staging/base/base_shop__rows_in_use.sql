{{ config(materialized='ephemeral') }}
{#- The shop rows the marts read, as the JSON the producer sent (`after`): the current state
    of every table, and for cart_items also every first insert (abandoned carts count items
    deleted since). Ephemeral: the JSON, personal data included, is read from raw inside
    each query and never stored outside raw; staging selects the columns it needs. -#}
with

{% for table_name in shop_columns() %}
    current_{{ table_name }} as (
        select
            '{{ table_name }}' as table_name,
            changes.id,
            'current state' as read_as,
            changes.after
        from {{ source('raw', 'shop_' ~ table_name) }} as changes
        inner join {{ ref('base_shop__latest_changes') }} as latest
            on
                latest.table_name = '{{ table_name }}'
                and changes._kafka_partition = latest._kafka_partition
                and changes._kafka_offset = latest._kafka_offset
        where latest.op <> 'd'
    ),
{% endfor %}

cart_item_inserts as (
    select
        'cart_items' as table_name,
        changes.id,
        'insert history' as read_as,
        changes.after
    from {{ source('raw', 'shop_cart_items') }} as changes
    inner join {{ ref('base_shop__cart_item_inserts') }} as inserts
        on
            changes._kafka_partition = inserts._kafka_partition
            and changes._kafka_offset = inserts._kafka_offset
)

{% for table_name in shop_columns() %}
    select * from current_{{ table_name }}
    union all
{% endfor %}
select * from cart_item_inserts
