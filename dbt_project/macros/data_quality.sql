{#- The KST days the data-quality checks (models/monitoring) look at, one column date_kst:
    the days a run was asked to rebuild (vars rebuild_from and rebuild_to, as the daily DAG
    and backfills pass them), each of them even if it has no hits at all; otherwise the
    newest complete day, the one before the newest day with hits in ``daily_relation``. -#}
{% macro data_quality_days(daily_relation) -%}
    {%- if requested_days_given() -%}
        {%- for day in requested_days() %}
    select cast('{{ day }}' as date) as date_kst
            {%- if not loop.last %}
    union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
    select cast({{ dbt.dateadd('day', -1, 'max(date_kst)') }} as date) as date_kst
    from {{ daily_relation }}
    {%- endif %}
{%- endmacro %}
