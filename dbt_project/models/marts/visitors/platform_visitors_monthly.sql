{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='month_kst') }}
{{ monthly_visitor_figures(per_mall=false) }}
