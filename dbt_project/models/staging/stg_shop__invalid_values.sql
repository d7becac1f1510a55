{#- Values of shop rows that do not have their topics.md type: "x", true or 1e30 as an
    amount, "yesterday" as a datetime, an id past 64 bits, a row without its mall. One row
    per such value, with what was sent and what is wrong. The stg_shop__ models leave these
    rows out, so every mart excludes them; the test assert_shop_values_are_readable warns
    while any are here. -#}
with

rows_in_use as (
    select * from {{ ref('base_shop__rows_in_use') }}
),

{#- One pass over each table's rows: every checked column of a row becomes a row of its own
    (a cross join with the table's column names), and the column's value and its problem are
    picked by name. -#}
{%- for table_name, columns in shop_columns().items() %}

{{ table_name }}_values as (
    select
        rows_in_use.table_name,
        rows_in_use.id as row_id,
        rows_in_use.read_as,
        checked.column_name,
        case checked.column_name
            {%- for column_name in columns %}
            when '{{ column_name }}' then {{ json_value('rows_in_use.after', column_name) }}
            {%- endfor %}
        end as sent_value,
        case checked.column_name
            {%- for column_name, type in columns.items() %}
            when '{{ column_name }}' then {{ shop_value_problem('rows_in_use.after', column_name, type) }}
            {%- endfor %}
        end as problem
    from rows_in_use
    cross join (
        values
        {%- for column_name in columns %}
            ('{{ column_name }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as checked (column_name)
    where rows_in_use.table_name = '{{ table_name }}'
),
{%- endfor %}

checked_values as (
    {%- for table_name in shop_columns() %}
    select * from {{ table_name }}_values
    {% if not loop.last %}union all{% endif %}
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
