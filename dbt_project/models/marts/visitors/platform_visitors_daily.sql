{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='date_kst') }}
{{ visitor_figures('date_kst', per_mall=false) }}
