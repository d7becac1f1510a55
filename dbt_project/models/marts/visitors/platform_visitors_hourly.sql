{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='date_kst') }}
{{ visitor_figures('hour_kst', per_mall=false) }}
