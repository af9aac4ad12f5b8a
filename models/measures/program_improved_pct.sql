-- program_improved_pct: one row per month end the case export covers and breakdown value; of
-- the clients with 2 or more assessments on enrolments of a programme whose latest assessment
-- (by the day) is dated in the 12 months ending on it, the % whose latest total score is better
-- than their first (see int_program_assessment_outcomes). Breakdowns: program, and the client's
-- age band at X, sex, ethnicity and locality; 'all' counts each client once per programme.
-- Counted in int_measure_counts (population program_assessed).
with counts as (
    select * from int_measure_counts
    where population = 'program_assessed'
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
