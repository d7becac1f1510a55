{#- A URL without its query string and fragment: they carry campaign tags, session tokens
    and, from mail links, e-mail addresses, none of which may leave raw. -#}
{% macro without_query_string(url) -%}
    {{ dbt.split_part(dbt.split_part(url, "'#'", 1), "'?'", 1) }}
{%- endmacro %}
