{#- Dialect differences between DuckDB (embedded) and Trino (platform), one macro each. -#}

{#- A UTC instant (timestamp with time zone) as Asia/Seoul wall-clock time (no zone). -#}
{% macro to_kst(ts) -%}{{ return(adapter.dispatch('to_kst', 'dataplat')(ts)) }}{%- endmacro %}
{% macro default__to_kst(ts) -%}cast({{ ts }} at time zone 'Asia/Seoul' as timestamp(6)){%- endmacro %}
{% macro duckdb__to_kst(ts) -%}timezone('Asia/Seoul', {{ ts }}){%- endmacro %}

{#- Epoch milliseconds (UTC), as CDC rows carry datetimes, to Asia/Seoul wall-clock time
    (UTC+9: Seoul has kept it since 1988). Exact for every millisecond of years 1 to 9999;
    stg_shop__invalid_values lists the values outside that range. -#}
{% macro epoch_ms_to_kst(ms) -%}{{ return(adapter.dispatch('epoch_ms_to_kst', 'dataplat')(ms)) }}{%- endmacro %}
{#- Trino's date_add takes 32-bit amounts: whole days, then the milliseconds left over. -#}
{% macro default__epoch_ms_to_kst(ms) -%}
    cast(date_add('millisecond', {{ ms }} % 86400000,
        date_add('day', {{ ms }} / 86400000, timestamp '1970-01-01 09:00:00.000')) as timestamp(6))
{%- endmacro %}
{% macro duckdb__epoch_ms_to_kst(ms) -%}
    (epoch_ms(cast({{ ms }} as bigint)) + interval 9 hour)
{%- endmacro %}

{#- Start (00:00 KST) of a KST date, as a UTC instant: to filter raw tables on their
    partition column. Asia/Seoul has had no daylight saving time since 1988. -#}
{% macro kst_date_start_utc(d) -%}{{ return(adapter.dispatch('kst_date_start_utc', 'dataplat')(d)) }}{%- endmacro %}
{% macro default__kst_date_start_utc(d) -%}
    with_timezone(cast({{ d }} as timestamp(6)) - interval '9' hour, 'UTC')
{%- endmacro %}
{% macro duckdb__kst_date_start_utc(d) -%}
    cast(cast({{ d }} as timestamp) - interval 9 hour as timestamptz)
{%- endmacro %}

{#- A timestamp with time zone as the engine itself wrote it as text (a cast to varchar). -#}
{% macro timestamp_tz_literal(text) -%}{{ return(adapter.dispatch('timestamp_tz_literal', 'dataplat')(text)) }}{%- endmacro %}
{% macro default__timestamp_tz_literal(text) -%}cast('{{ text }}' as timestamp(6) with time zone){%- endmacro %}
{% macro duckdb__timestamp_tz_literal(text) -%}cast('{{ text }}' as timestamptz){%- endmacro %}

{#- A JSON object held as text, made ready for json_text and json_value to read its fields.
    On Trino it is parsed once into a map from field name to JSON value: a row's text is
    parsed once however many fields are read, and Trino's compiled code holds no JSON path
    (a path is a constant Trino cannot match between queries, so every query compiled the
    shop models' code anew: docs/performance.md). Text that is not one JSON object gives no
    fields (null) rather than an error. On DuckDB the text itself, read by its JSON functions. -#}
{% macro json_fields(json_col) -%}{{ return(adapter.dispatch('json_fields', 'dataplat')(json_col)) }}{%- endmacro %}
{% macro default__json_fields(json_col) -%}try(cast(json_parse({{ json_col }}) as map(varchar, json))){%- endmacro %}
{% macro duckdb__json_fields(json_col) -%}{{ json_col }}{%- endmacro %}

{#- A scalar field, as text (null when absent, JSON null, an object or an array), of fields
    as json_fields gives them. -#}
{% macro json_text(fields, field) -%}{{ return(adapter.dispatch('json_text', 'dataplat')(fields, field)) }}{%- endmacro %}
{% macro default__json_text(fields, field) -%}try_cast(element_at({{ fields }}, '{{ field }}') as varchar){%- endmacro %}
{% macro duckdb__json_text(fields, field) -%}json_extract_string({{ fields }}, '$.{{ field }}'){%- endmacro %}

{#- A field, as the JSON the producer sent: '"x"' for a string, '5' for a number, 'null' for
    JSON null, null when absent; of fields as json_fields gives them. Its type shows in its
    text. -#}
{% macro json_value(fields, field) -%}{{ return(adapter.dispatch('json_value', 'dataplat')(fields, field)) }}{%- endmacro %}
{% macro default__json_value(fields, field) -%}json_format(element_at({{ fields }}, '{{ field }}')){%- endmacro %}
{% macro duckdb__json_value(fields, field) -%}cast(json_extract({{ fields }}, '$.{{ field }}') as varchar){%- endmacro %}

{#- Whether a text matches a regular expression as a whole. -#}
{% macro matches_fully(text, pattern) -%}{{ return(adapter.dispatch('matches_fully', 'dataplat')(text, pattern)) }}{%- endmacro %}
{% macro default__matches_fully(text, pattern) -%}regexp_like({{ text }}, '^(?:{{ pattern }})$'){%- endmacro %}
{% macro duckdb__matches_fully(text, pattern) -%}regexp_full_match({{ text }}, '{{ pattern }}'){%- endmacro %}

{#- Whole seconds from one timestamp (no zone) to a later one, rounded down: exact to the
    microsecond. Trino's date_diff reads milliseconds, so it counts whole-second steps and
    takes one back when the last step overshoots. -#}
{% macro elapsed_seconds(start, end) -%}{{ return(adapter.dispatch('elapsed_seconds', 'dataplat')(start, end)) }}{%- endmacro %}
{% macro default__elapsed_seconds(start, end) -%}
    (
        date_diff('second', date_trunc('second', {{ start }}), date_trunc('second', {{ end }}))
        - case
            when date_add(
                'second',
                date_diff('second', date_trunc('second', {{ start }}), date_trunc('second', {{ end }})),
                {{ start }}
            ) > {{ end }} then 1
            else 0
        end
    )
{%- endmacro %}
{% macro duckdb__elapsed_seconds(start, end) -%}date_sub('second', {{ start }}, {{ end }}){%- endmacro %}
