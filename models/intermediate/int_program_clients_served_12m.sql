-- One row per programme, client and month end for clients with an enrolment in the programme
-- overlapping the 12 months ending on the day: start_date <= X and (end_date null or
-- end_date > X - 1 year). Carries the client's sex, ethnicity, locality and age band at X.
-- materialized: view
with periods as (
    select * from int_case_periods
),

spans as (
    select * from int_case_served_spans
    where scope = 'program'
),

-- Spans of one programme and client never share a month end, so these rows are distinct.
served as (
    select
        periods.period_end,
        spans.program,
        spans.client_id,
        spans.date_of_birth,
        spans.sex,
        spans.ethnicity,
        spans.locality,
    from periods
    inner join spans
        on spans.start_date <= periods.period_end
        and spans.end_date > (periods.period_end - interval 1 year)::date
),

with_age as (
    select
        served.*,
        age_years(date_of_birth, period_end) as age,
    from served
),

final as (
    select
        period_end,
        program,
        client_id,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        locality,
    from with_age
)

select * from final
