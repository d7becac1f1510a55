{#- Values of shop rows that do not have their topics.md type: "x", true or 1e30 as an
    amount, "yesterday" as a datetime, an id past 64 bits, a row without its mall. One row
    per such value, with what was sent and what is wrong. The stg_shop__ models leave these
    rows out, so every mart excludes them; the test assert_shop_values_are_readable warns
    while any are here. -#}
with

rows_in_use as (
    select
        table_name,
        id,
        read_as,
        {{ json_fields('after') }} as after_fields
    from {{ ref('base_shop__rows_in_use') }}
),

{#- One pass over each table's rows: every checked column of a row becomes a row of its own
    (a cross join with the table's column names), its value is taken out of the row by name,
    then judged. The loops keep the indentation of the SQL they make (LT02 off for them). -#}
-- noqa: disable=LT02
{%- for table_name, columns in shop_columns().items() %}

{{ table_name }}_values as (
    select
        table_name,
        row_id,
        read_as,
        column_name,
        sent_value,
        case column_name
            {%- for column_name, type in columns.items() %}
            when '{{ column_name }}' then {{ shop_value_problem('sent_value', column_name, type) }}
            {%- endfor %}
        end as problem
    from (
        select
            rows_in_use.table_name,
            rows_in_use.id as row_id,
            rows_in_use.read_as,
            checked_columns.column_name,
            case checked_columns.column_name
                {%- for column_name in columns %}
                when '{{ column_name }}'
                    then {{ json_value('rows_in_use.after_fields', column_name) }}
                {%- endfor %}
            end as sent_value
        from rows_in_use
        cross join (
            values
            {%- for column_name in columns %}
                ('{{ column_name }}'){% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as checked_columns (column_name)
        where rows_in_use.table_name = '{{ table_name }}'
    ) as sent_values
),
{%- endfor %}

checked_values as (
    {%- for table_name in shop_columns() %}
    select * from {{ table_name }}_values
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
-- noqa: enable=LT02

invalid_values as (
    select * from checked_values
    where problem is not null
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
