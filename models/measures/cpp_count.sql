-- cpp_count: one row per month end of the CIN census years and breakdown value; distinct
-- children with a child protection plan open on the day (CPPstartDate <= X, CPPendDate null or
-- after X). Breakdowns: age band at X, sex, ethnicity, category of need of the open plan.
with periods as (
    select * from int_cin_periods
),

snapshot as (
    select * from int_cp_snapshot
),

members as (
    select
        period_end,
        child_id,
        age_band,
        sex,
        ethnicity,
        category_of_need,
    from snapshot
),

-- int_cp_snapshot has one row per child and month end, so count(*) counts each once.
-- One grouping set per breakdown reads it once.
counts as (
    select
        period_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(category_of_need) = 0 then 'category_of_need'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(category_of_need) = 0 then category_of_need
            else 'all'
        end as breakdown_value,
        count(*) as children,
    from members
    group by grouping sets (
        (period_end),
        (period_end, age_band),
        (period_end, sex),
        (period_end, ethnicity),
        (period_end, category_of_need)
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
