{#- Dialect differences between DuckDB (embedded) and Trino (platform), one macro each. -#}

{#- A UTC instant (timestamp with time zone) as Asia/Seoul wall-clock time (no zone). -#}
{% macro to_kst(ts) -%}{{ return(adapter.dispatch('to_kst', 'dataplat')(ts)) }}{%- endmacro %}
{% macro default__to_kst(ts) -%}cast({{ ts }} at time zone 'Asia/Seoul' as timestamp(6)){%- endmacro %}
{% macro duckdb__to_kst(ts) -%}timezone('Asia/Seoul', {{ ts }}){%- endmacro %}

{#- Epoch milliseconds (UTC), as CDC rows carry datetimes, to Asia/Seoul wall-clock time. -#}
{% macro epoch_ms_to_kst(ms) -%}{{ return(adapter.dispatch('epoch_ms_to_kst', 'dataplat')(ms)) }}{%- endmacro %}
{% macro default__epoch_ms_to_kst(ms) -%}
    cast(from_unixtime_nanos(cast({{ ms }} as bigint) * 1000000) at time zone 'Asia/Seoul' as timestamp(6))
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

{#- A scalar of a JSON object held as text, as text (null when absent or JSON null). -#}
{% macro json_text(json_col, field) -%}{{ return(adapter.dispatch('json_text', 'dataplat')(json_col, field)) }}{%- endmacro %}
{% macro default__json_text(json_col, field) -%}json_extract_scalar({{ json_col }}, '$.{{ field }}'){%- endmacro %}
{% macro duckdb__json_text(json_col, field) -%}json_extract_string({{ json_col }}, '$.{{ field }}'){%- endmacro %}

{% macro json_bigint(json_col, field) -%}cast({{ json_text(json_col, field) }} as bigint){%- endmacro %}
