-- program_plan_within_30d_pct: one row per month end the case export covers and breakdown value;
-- of the enrolments starting in the 12 months ending on the day and at least 30 days before it,
-- the % with a service plan dated from the start date to 30 days after it. Breakdowns: program,
-- and the client's age band at X, sex, ethnicity and locality.
-- Counted in int_measure_counts (population program_plans).
with counts as (
    select * from int_measure_counts
    where population = 'program_plans'
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
