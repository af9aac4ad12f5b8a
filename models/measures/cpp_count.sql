-- cpp_count: one row per month end of the CIN census years and breakdown value; distinct
-- children with a child protection plan open on the day (CPPstartDate <= X, CPPendDate null or
-- after X). Breakdowns: age band at X, sex, ethnicity, category of need of the open plan.
-- Counted in int_measure_counts (population child_protection).
with counts as (
    select * from int_measure_counts
    where population = 'child_protection'
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        members as numerator,
        null as denominator,
        members as value,
    from counts
)

select * from final
