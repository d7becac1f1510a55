{#- A URL without its query string and fragment: they carry campaign tags, session tokens
    and, from mail links, e-mail addresses, none of which may leave raw. -#}
{% macro without_query_string(url) -%}
    {{ dbt.split_part(dbt.split_part(url, "'#'", 1), "'?'", 1) }}
{%- endmacro %}

{#- The host of a URL as written: what follows `scheme://` or `//` at its very start, without
    any `user@` and up to the first `/`, `?`, `#` or `:`; null when there is none (text that
    is not a URL, a path, an app scheme without `//`). Same regular expression on both
    engines; DuckDB gives '' where Trino gives null when nothing matches. -#}
{% macro url_host(url) -%}
    nullif(regexp_extract({{ url }}, '^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?([^/?#:]*)', 1), '')
{%- endmacro %}
