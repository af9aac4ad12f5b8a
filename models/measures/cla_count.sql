-- cla_count: one row per month end and breakdown value; distinct children looked after on the
-- day (an episode open on X, short breaks excluded). Breakdowns: age band at X, sex, ethnicity,
-- category of need and locality of the open episode.
with periods as (
    select * from int_ssda903_periods
),

snapshot as (
    select * from int_cla_snapshot
),

-- int_cla_snapshot has one row per child and month end, so count(*) counts each once; one
-- grouping set per breakdown reads it once.
counts as (
    select
        period_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(category_of_need) = 0 then 'category_of_need'
            when grouping(locality) = 0 then 'locality'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(category_of_need) = 0 then category_of_need
            when grouping(locality) = 0 then locality
            else 'all'
        end as breakdown_value,
        count(*) as children,
    from snapshot
    group by grouping sets (
        (period_end),
        (period_end, age_band),
        (period_end, sex),
        (period_end, ethnicity),
        (period_end, category_of_need),
        (period_end, locality)
    )
),

breakdown_values as (
    select distinct breakdown, breakdown_value from counts
    union
    select 'all' as breakdown, 'all' as breakdown_value
),

grid as (
    select
        periods.period_end,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from periods
    cross join breakdown_values
),

final as (
    select
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.children, 0) as numerator,
        null as denominator,
        coalesce(counts.children, 0) as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
