{{ config(severity='warn') }}
{#- Warns while shop rows carry values of the wrong type (stg_shop__invalid_values): those
    rows are left out of every mart until the producer sends them again, corrected. The
    build goes on; the warning names how many values are affected. -#}
select
    table_name,
    column_name,
    problem,
    values_with_this_problem
from {{ ref('stg_shop__invalid_values') }}
