{#- Incremental runs rebuild whole KST days. The days to rebuild are those of events ingested
    since this model last ran (minus a lookback for loader batches still committing then),
    and their neighbours: a late event can lengthen a session that began the day before, or
    absorb the first session of the day after. -#}

{% macro ingested_since_last_run(relation_column='_ingested_at') -%}
    {{ relation_column }} > (
        select {{ dbt.dateadd('minute', -1 * var('ingest_lookback_minutes'), 'max(_ingested_at)') }}
        from {{ this }}
    )
{%- endmacro %}

{% macro days_to_rebuild() -%}
    select distinct date_kst from (
        select date_kst from changed_days
        union all
        select cast({{ dbt.dateadd('day', -1, 'date_kst') }} as date) from changed_days
        union all
        select cast({{ dbt.dateadd('day', 1, 'date_kst') }} as date) from changed_days
    ) as neighbourhood
{%- endmacro %}

{#- The CTEs ``changed_days`` and ``rebuild_days`` from stg_weblog__events (empty on a full build). -#}
{% macro rebuild_days_ctes() -%}
    changed_days as (
        select distinct date_kst
        from {{ ref('stg_weblog__events') }}
        where {{ ingested_since_last_run() }}
    ),
    rebuild_days as (
        {{ days_to_rebuild() }}
    ),
{%- endmacro %}

{#- Latest change per primary key of a CDC change table; rows whose latest change is a delete
    are gone. The source position orders changes globally; the Kafka offset only breaks ties
    between redeliveries of the same change, which are identical. -#}
{% macro cdc_current_state(source_table) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by id
                order by source_file desc, source_pos desc, source_row desc,
                    _kafka_partition desc, _kafka_offset desc
            ) as recency
        from {{ source('raw', source_table) }}
    ) as ranked
    where recency = 1 and op <> 'd'
{%- endmacro %}
