-- cla_rate_per_10k: one row per month end and breakdown value; children looked after on the day
-- per 10,000 children aged 0-17 (ONS mid-year N for X from 1 April N to 31 March N+1; the
-- latest estimate is carried forward). Breakdown: age band at X over the band's population.
-- Computed in int_rates_per_10k (population looked_after).
with rates as (
    select * from int_rates_per_10k
    where population = 'looked_after'
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        members as numerator,
        children_in_area as denominator,
        rate_per_10k as value,
    from rates
)

select * from final
