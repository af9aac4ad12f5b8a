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
        'all' as "all",
        age_band,
        sex,
        ethnicity,
        category_of_need,
    from plan_starts
),

long as (
    unpivot members
    on "all", age_band, sex, ethnicity, category_of_need
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

-- int_cp_plan_starts_12m has one row per plan and month end, so count(*) counts each once.
counts as (
    select
        period_end,
        breakdown,
        breakdown_value,
        count_if(is_repeat) as repeat_plans,
        count(*) as plans,
    from long
    group by period_end, breakdown, breakdown_value
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
