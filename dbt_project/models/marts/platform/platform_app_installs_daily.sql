{#- App installs as of each day D, per mall and platform (ios/android): installs_total =
    installed before the end of D; installs_active = of those, not uninstalled before the
    end of D. Each install has one mall and one platform, so per-mall, per-platform and
    platform-wide figures are sums of these rows. -#}
with

days as (
    select * from {{ ref('int_calendar__as_of_days') }}
)

select
    days.as_of_date,
    installs.mall_id,
    installs.platform,
    count(*) as installs_total,
    cast(sum(case
        when
            installs.uninstalled_at_kst is null
            or installs.uninstalled_at_kst >= days.end_of_day_kst
            then 1
        else 0
    end) as bigint) as installs_active
from days
inner join {{ ref('stg_shop__app_installs') }} as installs
    on days.end_of_day_kst > installs.installed_at_kst
group by 1, 2, 3
