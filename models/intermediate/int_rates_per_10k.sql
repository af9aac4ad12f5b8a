-- One row per population given per 10,000 children (looked_after, child_protection: those of
-- measure_populations() in models/macros.sql with per_10k_children), month end and breakdown
-- value of the population estimates ('all' and each age band): the population's members on
-- the day (int_measure_counts), the area's children of that age (ONS mid-year N for X from
-- 1 April N to 31 March N+1; the latest estimate is carried forward) and the rate per 10,000
-- children.
with rated_populations as (
    select population from measure_populations()
    where per_10k_children
),

counts as (
    select * from int_measure_counts
    semi join rated_populations using (population)
    where breakdown in ('all', 'age_band')
),

estimates as (
    select * from int_population_breakdowns
),

-- int_measure_counts has every month end of a population under 'all'.
periods as (
    select distinct population, period_end from counts
),

breakdown_values as (
    select distinct breakdown, breakdown_value from estimates
    union
    select 'all' as breakdown, 'all' as breakdown_value
),

grid as (
    select
        periods.population,
        periods.period_end,
        year(periods.period_end) - (case when month(periods.period_end) < 4 then 1 else 0 end)
            as mid_year,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from periods
    cross join breakdown_values
),

with_estimates as (
    select
        grid.population,
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.members, 0) as members,
        estimates.population as children_in_area,
    from grid
    left join counts
        on counts.population = grid.population
        and counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
    asof left join estimates
        on estimates.breakdown = grid.breakdown
        and estimates.breakdown_value = grid.breakdown_value
        and grid.mid_year >= estimates.mid_year
),

final as (
    select
        population,
        period_end,
        breakdown,
        breakdown_value,
        members,
        children_in_area,
        case when children_in_area > 0 then 10000.0 * members / children_in_area end as rate_per_10k,
    from with_estimates
)

select * from final
