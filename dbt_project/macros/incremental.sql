{#- Incremental runs rebuild whole KST days. The days to rebuild are those of events ingested
    since this model last ran (minus a lookback for loader batches still committing then),
    and their neighbours: a late event can lengthen a session that began the day before, or
    absorb the first session of the day after.

    The days are asked of the engine while the model compiles, and its SQL carries them as
    literal dates. So the SQL does not read the model's own table for them: the delete of
    the rebuilt days cannot change what the insert reads (strategies rebuild_days and
    rebuild_months below). -#}

{% macro ingested_since_last_run(relation_column='_ingested_at') -%}
    {{ relation_column }} > (
        select {{ dbt.dateadd('minute', -1 * var('ingest_lookback_minutes'), 'max(_ingested_at)') }}
        from {{ this }}
    )
{%- endmacro %}

{#- Days a run is asked to rebuild whatever was ingested: vars rebuild_from and rebuild_to
    (KST dates, inclusive), as the scheduler's daily runs and backfills pass them. Rebuilding
    a day from the raw tables gives the same rows however often it runs, so re-running a date
    range is idempotent. -#}
{% macro requested_days_given() -%}
    {{ return(var('rebuild_from', none) is not none) }}
{%- endmacro %}

{#- The requested days (rebuild_from to rebuild_to, inclusive) as 'YYYY-MM-DD' strings. -#}
{% macro requested_days() -%}
    {%- set first = modules.datetime.date.fromisoformat(var('rebuild_from') | string) -%}
    {%- set last = modules.datetime.date.fromisoformat((var('rebuild_to') or var('rebuild_from')) | string) -%}
    {%- set days = [] -%}
    {%- for n in range((last - first).days + 1) -%}
        {%- do days.append((first + modules.datetime.timedelta(days=n)).isoformat()) -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}

{#- The KST days (sorted 'YYYY-MM-DD' strings) the query ``changed`` selects: its one column
    is a date as text behind a letter, since dbt would read dates into Python objects and the
    text is what the engine reads back exactly. -#}
{% macro days_of_query(changed) -%}
    {%- set days = [] -%}
    {%- for day in run_query(changed).columns[0].values() -%}
        {%- do days.append(day[1:]) -%}
    {%- endfor -%}
    {{ return(days | unique | sort) }}
{%- endmacro %}

{#- The KST days stg_weblog__events rebuilds on an incremental run: the days of raw events
    ingested since its last run (minus the lookback), and the requested days. -#}
{% macro weblog_days_to_rebuild() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set newest -%}
        select 't' || cast({{ dbt.dateadd('minute', -1 * var('ingest_lookback_minutes'), 'max(_ingested_at)') }} as varchar)
        from {{ this }}
    {%- endset -%}
    {%- set since = run_query(newest).columns[0].values()[0] -%}
    {%- set changed -%}
        select distinct 'd' || cast(cast({{ to_kst('event_time') }} as date) as varchar)
        from {{ source('raw', 'weblog_events') }}
        {%- if since is not none %}
        where _ingested_at > {{ timestamp_tz_literal(since[1:]) }}
        {%- endif %}
    {%- endset -%}
    {%- set days = days_of_query(changed) -%}
    {%- if requested_days_given() -%}
        {%- set days = days + requested_days() -%}
    {%- endif -%}
    {{ return(days | unique | sort) }}
{%- endmacro %}

{#- The KST days a model downstream of stg_weblog__events rebuilds on an incremental run: the
    days of events ingested since the model last ran (minus the lookback) and the days beside
    them, and the requested days. -#}
{% macro days_to_rebuild() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set changed -%}
        select distinct 'd' || cast(date_kst as varchar)
        from {{ ref('stg_weblog__events') }}
        where {{ ingested_since_last_run() }}
    {%- endset -%}
    {%- set days = [] -%}
    {%- for day in days_of_query(changed) -%}
        {%- set date = modules.datetime.date.fromisoformat(day) -%}
        {%- for offset in (-1, 0, 1) -%}
            {%- do days.append((date + modules.datetime.timedelta(days=offset)).isoformat()) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if requested_days_given() -%}
        {%- set days = days + requested_days() -%}
    {%- endif -%}
    {{ return(days | unique | sort) }}
{%- endmacro %}

{#- A SQL comment stating the KST days (strings) a model's SQL rebuilds: the strategies
    rebuild_days and rebuild_months (below) delete those days' rows. -#}
{% macro rebuild_days_comment(days) -%}
    /* {{ rebuild_days_marker() }} {{ days | join(' ') }} */
{%- endmacro %}

{% macro rebuild_days_marker() -%}
    {{ return('rebuilds KST days:') }}
{%- endmacro %}

{#- A select of the KST days given (strings) as one column, date_kst; no rows for none. It
    states the days in a comment too (rebuild_days_comment). -#}
{% macro kst_days_select(days) -%}
    {{ rebuild_days_comment(days) }}
    {%- if days %}
    select date_kst
    from (values {% for day in days %}(date '{{ day }}'){{ ", " if not loop.last }}{% endfor %}) as days (date_kst)
    {%- else %}
    select cast(null as date) as date_kst
    where 1 = 0
    {%- endif %}
{%- endmacro %}

{#- Condition that a raw table's UTC event time falls on one of the KST days given (strings):
    literal bounds first (file and partition pruning), then the days themselves. -#}
{% macro event_time_on_kst_days(column, days) -%}
    {%- set after_last = modules.datetime.date.fromisoformat(days[-1]) + modules.datetime.timedelta(days=1) -%}
    {{ column }} >= {{ kst_date_start_utc("date '" ~ days[0] ~ "'") }}
    and {{ column }} < {{ kst_date_start_utc("date '" ~ after_last.isoformat() ~ "'") }}
    and cast({{ to_kst(column) }} as date) in (
        {%- for day in days %}date '{{ day }}'{{ ", " if not loop.last }}{% endfor -%}
    )
{%- endmacro %}

{#- The CTE ``rebuild_days`` (one column, date_kst) of an incremental model downstream of
    stg_weblog__events: the days of ``days_to_rebuild``, as literal dates. -#}
{% macro rebuild_days_ctes() -%}
    rebuild_days as (
        {{ kst_days_select(days_to_rebuild()) }}
    ),
{%- endmacro %}

{#- Custom incremental strategies (incremental_strategy='rebuild_days' or 'rebuild_months'):
    delete the rows of the days (months) the model's SQL rebuilds, named as literals, then
    insert the model's rows. Unlike delete+insert with a unique_key, the engine is not asked
    which keys the new rows carry: dbt-trino then reads the model's SQL through a view
    instead of writing it to a temporary table first, and the delete names its days as
    literals. The model's SQL must state its days (rebuild_days_comment, which
    rebuild_days_ctes writes) and must not read its own table. Its config partitions the
    table by the same column, properties={'partitioning': "ARRAY['date_kst']"} (month_kst
    for rebuild_months): Trino then drops the rebuilt days as whole partitions from Iceberg's
    metadata instead of writing delete files that every later read merges. DuckDB ignores
    the setting. -#}
{% macro get_incremental_rebuild_days_sql(arg_dict) -%}
    {{ return(rebuild_periods_sql(arg_dict, 'date_kst')) }}
{%- endmacro %}

{% macro get_incremental_rebuild_months_sql(arg_dict) -%}
    {{ return(rebuild_periods_sql(arg_dict, 'month_kst')) }}
{%- endmacro %}

{% macro rebuild_periods_sql(arg_dict, period_column) -%}
    {%- set stated = modules.re.search(
        modules.re.escape(rebuild_days_marker()) ~ '([0-9 -]*)\\*/', model.compiled_code or ''
    ) -%}
    {%- if stated is none -%}
        {{ exceptions.raise_compiler_error(
            "model " ~ model.name ~ " uses incremental_strategy rebuild_days or rebuild_months, "
            ~ "but its SQL does not state the days it rebuilds: build its rebuild_days CTE with "
            ~ "rebuild_days_ctes(), or state them with rebuild_days_comment(days)"
        ) }}
    {%- endif -%}
    {%- set periods = [] -%}
    {%- for day in stated.group(1).split() -%}
        {%- set date = modules.datetime.date.fromisoformat(day) -%}
        {%- do periods.append((date.replace(day=1) if period_column == 'month_kst' else date).isoformat()) -%}
    {%- endfor -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if periods %}
    delete from {{ target }}
    where {{ period_column }} in (
        {%- for period in periods | unique | sort %}date '{{ period }}'{{ ", " if not loop.last }}{% endfor -%}
    );
    {% endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
