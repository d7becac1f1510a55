{#- Values of shop rows that do not have their topics.md type: "x", true or 1e30 as an
    amount, "yesterday" as a datetime, an id past 64 bits, a row without its mall. One row
    per such value, with what was sent and what is wrong. The stg_shop__ models leave these
    rows out, so every mart excludes them; the test assert_shop_values_are_readable warns
    while any are here. -#}
with

rows_in_use as (
    select * from {{ ref('base_shop__rows_in_use') }}
),

checked_values as (
    {%- for table_name, columns in shop_columns().items() %}
    {%- set outer_loop = loop %}
    {%- for column_name, type in columns.items() %}
    select
        table_name,
        id as row_id,
        read_as,
        '{{ column_name }}' as column_name,
        {{ json_value('after', column_name) }} as sent_value,
        {{ shop_value_problem('after', column_name, type) }} as problem
    from rows_in_use
    where table_name = '{{ table_name }}'
    {% if not (loop.last and outer_loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),

invalid_values as (
    select * from checked_values where problem is not null
)

select
    table_name,
    row_id,
    read_as,
    column_name,
    substr(sent_value, 1, 200) as sent_value,
    problem,
    count(*) over (partition by table_name, column_name, problem) as values_with_this_problem
from invalid_values
