-- One row per programme, client and month end for clients with an enrolment in the programme
-- overlapping the 12 months ending on the day: start_date <= X and (end_date null or
-- end_date > X - 1 year). Carries the client's sex, ethnicity, locality and age band at X.
with periods as (
    select * from int_case_periods
),

enrolments as (
    select * from int_program_enrolments
),

served as (
    select distinct
        periods.period_end,
        enrolments.program,
        enrolments.client_id,
        enrolments.date_of_birth,
        enrolments.sex,
        enrolments.ethnicity,
        enrolments.locality,
    from periods
    inner join enrolments
        on enrolments.start_date <= periods.period_end
        and coalesce(enrolments.end_date, date '9999-12-31')
            > (periods.period_end - interval 1 year)::date
),

with_age as (
    select
        served.*,
        -- Whole years from the yyyymmdd difference: a 29 February birthday is reached
        -- on 1 March in other years.
        (
            (year(period_end) * 10000 + month(period_end) * 100 + day(period_end))
            - (year(date_of_birth) * 10000 + month(date_of_birth) * 100 + day(date_of_birth))
        ) // 10000 as age,
    from served
),

final as (
    select
        period_end,
        program,
        client_id,
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
        locality,
    from with_age
)

select * from final
