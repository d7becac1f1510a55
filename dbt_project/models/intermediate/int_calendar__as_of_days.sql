{#- The days D that "as of D" marts are built for: every KST day with traffic. The end of D
    is 00:00 KST of D+1; a time exactly then has not happened yet on D. -#}
select distinct
    date_kst as as_of_date,
    cast({{ dbt.dateadd('day', 1, 'date_kst') }} as timestamp) as end_of_day_kst
from {{ ref('int_weblog__daily_mall_visitors') }}
