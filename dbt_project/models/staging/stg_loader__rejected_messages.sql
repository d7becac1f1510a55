{#- For monitoring what producers send broken; the raw bytes stay in the raw table. -#}
select
    topic,
    partition as kafka_partition,
    "offset" as kafka_offset,
    kafka_timestamp,
    {{ dbt.split_part('reason', "':'", 1) }} as reason_code,
    reason,
    _ingested_at
from {{ source('raw', 'rejected_messages') }}
