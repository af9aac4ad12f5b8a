-- One row per enrolment per month end for enrolments starting in the 12 months ending on the
-- day and at least 30 days before it: start_date in (X - 1 year, X] and start_date <= X - 30
-- days. Flag: a service plan dated from start_date to start_date + 30 days. Carries the
-- client's sex, ethnicity, locality and age band at X.
-- materialized: view
with periods as (
    select * from int_case_periods
),

enrolments as (
    select * from int_program_enrolments
),

eligible as (
    select
        periods.period_end,
        enrolments.enrolment_id,
        enrolments.client_id,
        enrolments.program,
        enrolments.start_date,
        enrolments.has_plan_within_30d,
        enrolments.date_of_birth,
        enrolments.sex,
        enrolments.ethnicity,
        enrolments.locality,
        age_years(date_of_birth, period_end) as age,
    from periods
    inner join enrolments
        on enrolments.start_date > (periods.period_end - interval 1 year)::date
        and enrolments.start_date <= periods.period_end - 30
),

final as (
    select
        period_end,
        enrolment_id,
        client_id,
        program,
        start_date,
        has_plan_within_30d,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        locality,
    from eligible
)

select * from final
