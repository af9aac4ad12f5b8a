-- One row per child protection plan per month end for plans starting in the 12 months ending on
-- the day: CPPstartDate in (X - 1 year, X]. Carries the repeat flag of int_cp_plans, the plan's
-- category of need and the child's sex, ethnicity and age band at X (CIN census record).
-- materialized: view
with periods as (
    select * from int_cin_periods
),

plans as (
    select * from int_cp_plans
),

children as (
    select * from int_child_attributes
    where source = 'cin'
),

starts as (
    select
        periods.period_end,
        plans.child_id,
        plans.cpp_start_date,
        plans.is_repeat,
        plans.primary_need_code,
    from periods
    inner join plans
        on plans.cpp_start_date > (periods.period_end - interval 1 year)::date
        and plans.cpp_start_date <= periods.period_end
),

with_age as (
    select
        starts.*,
        children.date_of_birth,
        coalesce(children.sex, 'Unknown') as sex,
        coalesce(children.ethnicity, 'Unknown') as ethnicity,
        age_years(date_of_birth, period_end) as age,
    from starts
    left join children on children.child_id = starts.child_id
),

final as (
    select
        period_end,
        child_id,
        cpp_start_date,
        is_repeat,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        coalesce(primary_need_code, 'Unknown') as category_of_need,
    from with_age
)

select * from final
