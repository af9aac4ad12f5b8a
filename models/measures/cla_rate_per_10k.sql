-- cla_rate_per_10k: one row per month end; children looked after per 10,000 aged 0-17.
with periods as (
    select * from int_ssda903_periods
),

snapshot as (
    select * from int_cla_snapshot
),

population as (
    select * from int_population_0_17
),

counts as (
    select
        periods.period_end,
        year(periods.period_end) - (case when month(periods.period_end) < 4 then 1 else 0 end)
            as mid_year,
        count(distinct snapshot.child_id) as children,
    from periods
    left join snapshot on snapshot.period_end = periods.period_end
    group by periods.period_end
),

with_population as (
    select
        counts.period_end,
        counts.children,
        population.population,
    from counts
    asof left join population on counts.mid_year >= population.mid_year
),

final as (
    select
        period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        children as numerator,
        population as denominator,
        case when population > 0 then 10000.0 * children / population end as value,
    from with_population
)

select * from final
