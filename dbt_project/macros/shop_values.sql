{#- Reading the values of shop rows (CDC `after` JSON) as topics.md types them. A value of
    the wrong type reads as null here and is listed by stg_shop__invalid_values, and the
    staging models leave its row out: the transform never fails on what a producer sent. -#}

{#- Every column staging reads from each shop table, with its type in topics.md:
    integer  a JSON integer that fits 64 bits (ids, amounts, quantities);
    epoch_ms an integer of milliseconds since 1970 UTC within years 1 to 9999;
    text     a JSON string.
    JSON null is a valid value of every column but mall_id: a row without its mall cannot
    be placed. email (personal data) is never read, so it is not here. -#}
{% macro shop_columns() -%}
    {{ return({
        'malls': {'name': 'text', 'plan': 'text', 'status': 'text', 'created_at': 'epoch_ms'},
        'members': {'mall_id': 'integer', 'status': 'text', 'joined_at': 'epoch_ms'},
        'products': {'mall_id': 'integer', 'name': 'text', 'price': 'integer', 'status': 'text',
                     'created_at': 'epoch_ms'},
        'orders': {'mall_id': 'integer', 'member_id': 'integer', 'status': 'text',
                   'total_amount': 'integer', 'created_at': 'epoch_ms', 'paid_at': 'epoch_ms',
                   'updated_at': 'epoch_ms'},
        'cart_items': {'mall_id': 'integer', 'member_id': 'integer', 'product_id': 'integer',
                       'quantity': 'integer', 'added_at': 'epoch_ms'},
        'coupons': {'mall_id': 'integer', 'member_id': 'integer', 'campaign': 'text',
                    'issued_at': 'epoch_ms', 'used_at': 'epoch_ms', 'expires_at': 'epoch_ms'},
        'app_installs': {'mall_id': 'integer', 'device_id': 'text', 'platform': 'text',
                         'installed_at': 'epoch_ms', 'uninstalled_at': 'epoch_ms'},
    }) }}
{%- endmacro %}

{% macro shop_required_columns() -%}{{ return(['mall_id']) }}{%- endmacro %}

{#- The readers take a row's fields as json_fields (cross_db.sql) makes them of `after`. -#}

{#- A JSON integer that fits 64 bits, as bigint; null for anything else. -#}
{% macro shop_integer(fields, field) -%}
    {{ shop_integer_value(json_value(fields, field)) }}
{%- endmacro %}

{#- The same, of a field's JSON text taken out already (json_value). -#}
{% macro shop_integer_value(value) -%}{{ return(adapter.dispatch('shop_integer_value', 'dataplat')(value)) }}{%- endmacro %}

{#- Trino writes a JSON value back as JSON (json_format): an integer as its digits alone,
    after a minus sign if negative; any other number with a point or an exponent, a string
    in quotes. Its cast to bigint refuses a point, an exponent, quotes and more than 64 bits,
    so on that text the cast is the test. (A pattern as on DuckDB would be a constant Trino
    cannot match between queries, compiled anew in every one.) -#}
{% macro default__shop_integer_value(value) -%}try_cast({{ value }} as bigint){%- endmacro %}

{#- DuckDB's cast takes '12.5' (as 13) and ' 7': digits alone first. -#}
{% macro duckdb__shop_integer_value(value) -%}
    case
        when {{ matches_fully(value, '-?[0-9]{1,19}') }}
        then try_cast({{ value }} as bigint)
    end
{%- endmacro %}

{#- Epoch milliseconds (UTC) within years 1 to 9999, as Asia/Seoul wall-clock time; null for
    anything else. -#}
{% macro shop_datetime_kst(fields, field) -%}
    {{ epoch_ms_to_kst(shop_epoch_ms(fields, field)) }}
{%- endmacro %}

{% macro shop_epoch_ms(fields, field) -%}
    {{ shop_epoch_ms_value(json_value(fields, field)) }}
{%- endmacro %}

{% macro shop_epoch_ms_value(value) -%}
    case
        when {{ shop_integer_value(value) }} between -62135596800000 and 253402214399999
        then {{ shop_integer_value(value) }}
    end
{%- endmacro %}

{#- A JSON string, as text; null for anything else. -#}
{% macro shop_text(fields, field) -%}
    case when {{ shop_is_string(json_value(fields, field)) }} then {{ json_text(fields, field) }} end
{%- endmacro %}

{#- Whether a field's JSON text is a JSON string (then shop_text reads it). -#}
{% macro shop_is_string(value) -%}{{ value }} like '"%'{%- endmacro %}

{#- What is wrong with a column's value, in words; null when it is readable. It judges the
    field's JSON text (json_value), taken out of the row once by the caller: the same tests
    as the readers above, on text already extracted. One expression that extracted the field
    again for every test cost Trino's JIT up to 29 s of compiling per table and build. -#}
{% macro shop_value_problem(value, field, type) -%}
    case
        when {{ value }} is null or {{ value }} = 'null'
        then {% if field in shop_required_columns() %}'missing: the row cannot be placed without it'{% else %}null{% endif %}
        {%- if type == 'integer' %}
        when ({{ shop_integer_value(value) }}) is null then 'not an integer of at most 64 bits'
        {%- elif type == 'epoch_ms' %}
        when ({{ shop_epoch_ms_value(value) }}) is null then 'not epoch milliseconds within years 1 to 9999'
        {%- elif type == 'text' %}
        when not ({{ shop_is_string(value) }}) then 'not a JSON string'
        {%- else %}
        {{ exceptions.raise_compiler_error("shop_value_problem: unknown type '" ~ type ~ "' of " ~ field ~ " (shop_columns: integer, epoch_ms or text)") }}
        {%- endif %}
    end
{%- endmacro %}
