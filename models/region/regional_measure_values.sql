-- marts.regional_measure_values: one row per measure, period end and authority (breakdown
-- 'authority'), plus the region's own row (breakdown 'all') for the periods every one of the
-- $authorities authorities has. Reads the view regional_authority_values (each authority's
-- whole-population values, breakdown_value = its name).
with authority_values as (
    select * from regional_authority_values
),

units as (
    select measure_id, unit from marts.measures
),

coverage as (
    select measure_id, period_end, count(distinct breakdown_value) as n_authorities
    from authority_values group by all
),

region as (
    select
        v.measure_id,
        v.period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        sum(v.numerator) as numerator,
        sum(v.denominator) as denominator,
        case u.unit
            when 'count' then sum(v.value)
            when 'percent' then 100.0 * sum(v.numerator) / nullif(sum(v.denominator), 0)
            when 'rate_per_10k' then 10000.0 * sum(v.numerator) / nullif(sum(v.denominator), 0)
            when 'days' then 1.0 * sum(v.numerator) / nullif(sum(v.denominator), 0)
        end as value,
    from authority_values as v
    inner join units as u using (measure_id)
    inner join coverage as c using (measure_id, period_end)
    where c.n_authorities = $authorities
    group by v.measure_id, v.period_end, u.unit
)

select measure_id, period_end, 'authority' as breakdown, breakdown_value, numerator, denominator, value
from authority_values
union all
select * from region
order by measure_id, breakdown, breakdown_value, period_end
