-- One row per child per month end on which the child is on a child protection plan: a plan open
-- on the day (CPPstartDate <= X and (CPPendDate null or > X)). The latest-starting open plan
-- gives the category of need; sex, ethnicity and age band at X come from the child's CIN census
-- record of the newest return (an unborn child is 'Unborn' before the date of birth).
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
        arg_max(plans.primary_need_code, plans.cpp_start_date) as primary_need_code,
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
        -- Whole years from the yyyymmdd difference: a 29 February birthday is reached
        -- on 1 March in other years.
        (
            (year(period_end) * 10000 + month(period_end) * 100 + day(period_end))
            - (year(date_of_birth) * 10000 + month(date_of_birth) * 100 + day(date_of_birth))
        ) // 10000 as age,
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
        case
            when date_of_birth is null then 'Unknown'
            when date_of_birth > period_end then 'Unborn'
            when age <= 4 then '0-4'
            when age <= 9 then '5-9'
            when age <= 15 then '10-15'
            when age <= 17 then '16-17'
            else '18+'
        end as age_band,
        sex,
        ethnicity,
        coalesce(primary_need_code, 'Unknown') as category_of_need,
    from with_age
)

select * from final
