{#- Trino: a table's comments written with the table, not one statement per column after it.

    dbt-trino builds a table with CREATE TABLE AS, then persist_docs writes the table's
    comment and one COMMENT ON COLUMN per documented column: on this project, 468 statements
    in a full build, each a commit of the table's Iceberg metadata, and the 33 incremental
    models' comments written again on every run. Here a table of a documented model is made
    by a CREATE TABLE that names each column with its type and comment, then filled by one
    INSERT of the model's rows. persist_docs then has nothing to write for a table made in
    the run; on an incremental run over an existing table it reads the stored comments (one
    query) and writes only those whose description changed. The API reads the marts as of
    their published tag, so it never sees a table between its CREATE and its INSERT. -#}

{% macro trino__create_table_as(temporary, relation, sql, on_exists=None) -%}
    {%- if not create_writes_comments(temporary, on_exists) -%}
        {{ return(dbt.trino__create_table_as(temporary, relation, sql, on_exists)) }}
    {%- endif -%}
    {%- set described = {} -%}
    {%- for name, column in model.columns.items() if column.get('description') -%}
        {%- do described.update({name | lower: column['description']}) -%}
    {%- endfor -%}
    create{{ ' or replace' if on_exists == 'replace' }} table {{ relation }} (
    {%- for name, type in query_column_types(sql) %}
        {{ adapter.quote(name) }} {{ type }}
        {%- if name in described %} comment '{{ described[name] | replace("'", "''") }}'{% endif %}
        {{- "," if not loop.last }}
    {%- endfor %}
    )
    {{ comment(model.get('description')) }}
    {{ properties(temporary) }};

    insert into {{ relation }}
    {{ sql }}
    ;
{%- endmacro %}

{#- Whether trino__create_table_as writes the comments: for a table (not a temporary one) of
    a model with documented columns and persist_docs on, unless the model has a contract or
    keeps an existing table (on_table_exists skip); those get dbt-trino's CREATE TABLE AS. -#}
{% macro create_writes_comments(temporary, on_exists) -%}
    {%- set contract = config.get('contract') -%}
    {%- set documented = model.get('columns', {}).values() | selectattr('description') | list -%}
    {{ return(not temporary and on_exists != 'skip' and not (contract and contract.enforced)
              and config.persist_column_docs() and documented | length > 0) }}
{%- endmacro %}

{#- The columns of a query, in order: (name, Trino type) pairs, from one planning round trip
    that reads no rows: the root (Output) node of Trino's JSON plan names the columns and lists
    their types in the same order. The plan is of the query under `limit 0`, which Trino's
    optimizer turns into an empty result at once: the same columns and types for every one of
    the 61 models, planned in about half the time of the query itself (2.7 s against 4.7 s
    summed over them). -#}
{% macro query_column_types(sql) -%}
    {%- set plan_sql = 'explain (type logical, format json)\nselect * from (\n' ~ sql ~ '\n) limit 0' -%}
    {%- set plan = fromjson(run_query(plan_sql).rows[0][0]) -%}
    {%- set listed = plan.get('descriptor', {}).get('columnNames', '') -%}
    {%- set names = listed[1:-1].split(', ') if listed.startswith('[') else [] -%}
    {%- set types = plan.get('outputs', []) | map(attribute='type') | list -%}
    {%- if plan.get('name') != 'Output' or not names or names | length != types | length -%}
        {{ exceptions.raise_compiler_error(
            "Could not read the columns of " ~ model.unique_id ~ " from Trino's EXPLAIN (FORMAT JSON)"
            ~ " (macros/trino_comments.sql): " ~ (tojson(plan) | truncate(300))
            ~ ". Turn persist_docs columns off for it, or fix the macro for this Trino version.") }}
    {%- endif -%}
    {{ return(zip(names, types) | list) }}
{%- endmacro %}

{#- dbt-trino's persist_docs, writing only the comments that differ from the stored ones. -#}
{% macro trino__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set do_relation = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set do_columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if not (do_relation or do_columns) -%}{{ return('') }}{%- endif -%}
    {#- A table made in this run by trino__create_table_as has its comments already: every
        table model's (on_table_exists skip aside), and an incremental model's first build
        or full refresh (is_incremental() is false: dbt adds the new table to its cache only
        after the materialization). -#}
    {%- set made_now = config.get('materialized') == 'table' or not is_incremental() -%}
    {%- if made_now and create_writes_comments(false, config.get('on_table_exists')) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set stored = stored_comments(relation) -%}
    {%- if do_relation and stored.table != model.description -%}
        {%- do run_query(alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if do_columns -%}
        {%- set documented = validate_doc_columns(relation, model.columns, stored.columns.keys() | list) -%}
        {%- set changed = {} -%}
        {%- for name, column in documented.items() -%}
            {%- if stored.columns[name] != (column.get('description') or none) -%}
                {%- do changed.update({name: column}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if changed -%}
            {%- do run_query(alter_column_comment(relation, changed)) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- A relation's stored comments in one query: {'table': comment, 'columns': {name: comment}},
    None where there is none. The letters before each value keep them text (run_query reads
    results through agate, which would make a number of a comment like '2026'). -#}
{% macro stored_comments(relation) -%}
    {%- set comments_sql -%}
        select 'c' || column_name, 'x' || comment
        from {{ relation.information_schema() }}.columns
        where table_schema = '{{ relation.schema | lower }}'
          and table_name = '{{ relation.identifier | lower }}'
        union all
        select 't', 'x' || comment
        from system.metadata.table_comments
        where catalog_name = '{{ relation.database | lower }}'
          and schema_name = '{{ relation.schema | lower }}'
          and table_name = '{{ relation.identifier | lower }}'
    {%- endset -%}
    {%- set stored = {'table': none, 'columns': {}} -%}
    {%- for key, value in run_query(comments_sql).rows -%}
        {%- set text = value[1:] if value is not none else none -%}
        {%- if key == 't' -%}
            {%- do stored.update({'table': text}) -%}
        {%- else -%}
            {%- do stored.columns.update({key[1:]: text}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(stored) }}
{%- endmacro %}
