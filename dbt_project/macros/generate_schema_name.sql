{#- Custom schema names are used as they are (staging, intermediate, marts), so the same
    relation names exist on DuckDB and on Trino whatever the target's default schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
