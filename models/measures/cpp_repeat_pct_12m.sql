-- cpp_repeat_pct_12m: one row per month end of the CIN census years and breakdown value; of the
-- child protection plans starting in the 12 months ending on the day, the % where the child had
-- a plan with an earlier CPPstartDate in the data or NumberOfPreviousCPP > 0. Breakdowns: age
-- band at X, sex, ethnicity, category of need of the plan.
-- Counted in int_measure_counts (population cp_plan_starts).
with counts as (
    select * from int_measure_counts
    where population = 'cp_plan_starts'
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        flagged as numerator,
        members as denominator,
        case when members > 0 then 100.0 * flagged / members end as value,
    from counts
)

select * from final
