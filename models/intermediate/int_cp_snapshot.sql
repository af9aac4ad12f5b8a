-- One row per child per month end on which the child is on a child protection plan: a plan open
-- on the day (CPPstartDate <= X and (CPPendDate null or > X)). The latest-starting open plan
-- gives the category of need; sex, ethnicity and age band at X come from the child's CIN census
-- record of the newest return (an unborn child is 'Unborn' before the date of birth).
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

open_on_day as (
    select
        periods.period_end,
        plans.child_id,
        max(plans.cpp_start_date) as cpp_start_date,
        arg_max_null(plans.primary_need_code, plans.cpp_start_date) as primary_need_code,
    from periods
    inner join plans
        on plans.cpp_start_date <= periods.period_end
        and coalesce(plans.cpp_end_date, date '9999-12-31') > periods.period_end
    group by periods.period_end, plans.child_id
),

with_age as (
    select
        open_on_day.*,
        children.date_of_birth,
        coalesce(children.sex, 'Unknown') as sex,
        coalesce(children.ethnicity, 'Unknown') as ethnicity,
        age_years(date_of_birth, period_end) as age,
    from open_on_day
    left join children on children.child_id = open_on_day.child_id
),

final as (
    select
        period_end,
        child_id,
        cpp_start_date,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        coalesce(primary_need_code, 'Unknown') as category_of_need,
    from with_age
)

select * from final
