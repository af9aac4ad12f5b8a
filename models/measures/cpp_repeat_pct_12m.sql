-- cpp_repeat_pct_12m: one row per month end of the CIN census years and breakdown value; of the
-- child protection plans starting in the 12 months ending on the day, the % where the child had
-- a plan with an earlier CPPstartDate in the data or NumberOfPreviousCPP > 0. Breakdowns: age
-- band at X, sex, ethnicity, category of need of the plan.
with periods as (
    select * from int_cin_periods
),

plan_starts as (
    select * from int_cp_plan_starts_12m
),

members as (
    select
        period_end,
        child_id,
        cpp_start_date,
        is_repeat,
        age_band,
        sex,
        ethnicity,
        category_of_need,
    from plan_starts
),

-- int_cp_plan_starts_12m has one row per plan and month end, so count(*) counts each once.
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
        count_if(is_repeat) as repeat_plans,
        count(*) as plans,
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
        coalesce(counts.repeat_plans, 0) as numerator,
        coalesce(counts.plans, 0) as denominator,
        case
            when coalesce(counts.plans, 0) > 0 then 100.0 * counts.repeat_plans / counts.plans
        end as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
