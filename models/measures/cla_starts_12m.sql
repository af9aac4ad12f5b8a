-- cla_starts_12m: one row per month end and breakdown value; distinct children with an episode
-- starting a period of care (RNE S, short breaks excluded) in the 12 months ending on the day,
-- (X - 1 year, X]. Breakdowns: age band at X, sex, ethnicity, category of need and locality of
-- the latest start.
with periods as (
    select * from int_ssda903_periods
),

starts as (
    select * from int_cla_starts_12m
),

members as (
    select
        period_end,
        child_id,
        'all' as "all",
        age_band,
        sex,
        ethnicity,
        category_of_need,
        locality,
    from starts
),

long as (
    unpivot members
    on "all", age_band, sex, ethnicity, category_of_need, locality
    into name breakdown value breakdown_value
),

breakdown_values as (
    select distinct breakdown, breakdown_value from long
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

-- int_cla_starts_12m has one row per child and month end, so count(*) counts each once.
counts as (
    select
        period_end,
        breakdown,
        breakdown_value,
        count(*) as children,
    from long
    group by period_end, breakdown, breakdown_value
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
