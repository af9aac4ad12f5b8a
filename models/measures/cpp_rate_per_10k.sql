-- cpp_rate_per_10k: one row per month end of the CIN census years and breakdown value; children
-- on a child protection plan on the day per 10,000 children aged 0-17 (ONS mid-year N for X
-- from 1 April N to 31 March N+1; the latest estimate is carried forward). Breakdown: age band
-- at X over the band's population.
with periods as (
    select * from int_cin_periods
),

counts as (
    select * from int_measure_counts
    where population = 'child_protection' and breakdown in ('all', 'age_band')
),

population as (
    select * from int_population_breakdowns
),

breakdown_values as (
    select distinct breakdown, breakdown_value from population
    union
    select 'all' as breakdown, 'all' as breakdown_value
),

grid as (
    select
        periods.period_end,
        year(periods.period_end) - (case when month(periods.period_end) < 4 then 1 else 0 end)
            as mid_year,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from periods
    cross join breakdown_values
),

with_population as (
    select
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.members, 0) as children,
        population.population,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
    asof left join population
        on population.breakdown = grid.breakdown
        and population.breakdown_value = grid.breakdown_value
        and grid.mid_year >= population.mid_year
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        children as numerator,
        population as denominator,
        case when population > 0 then 10000.0 * children / population end as value,
    from with_population
)

select * from final
