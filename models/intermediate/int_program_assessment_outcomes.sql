-- One row per programme, client and month end for clients with 2 or more assessment occasions
-- (int_program_assessment_occasions) in the programme by the day whose latest occasion by the
-- day is dated in the 12 months ending on it, (X - 1 year, X]. Flag: that occasion's total score
-- is better than the first one's. Carries the client's sex, ethnicity, locality and age band at X.
-- materialized: view
with occasions as (
    select * from int_program_assessment_occasions
),

periods as (
    select * from int_case_periods
),

clients as (
    select * from int_child_attributes
    where source = 'case'
),

-- An occasion is the latest by X from its own date until the next occasion's date.
latest_by_day as (
    select
        periods.period_end,
        occasions.program,
        occasions.client_id,
        occasions.occasion_number as assessments_by_day,
        occasions.assessment_date as latest_assessment_date,
        occasions.total_score as latest_total_score,
        occasions.first_total_score,
        occasions.is_improved,
    from periods
    inner join occasions
        on occasions.assessment_date <= periods.period_end
        and occasions.assessment_date > (periods.period_end - interval 1 year)::date
        and coalesce(occasions.next_assessment_date, date '9999-12-31') > periods.period_end
    where occasions.occasion_number >= 2
),

with_client as (
    select
        latest_by_day.*,
        clients.date_of_birth,
        coalesce(clients.sex, 'Unknown') as sex,
        coalesce(clients.ethnicity, 'Unknown') as ethnicity,
        coalesce(clients.postcode_district, 'Unknown') as locality,
        age_years(date_of_birth, period_end) as age,
    from latest_by_day
    left join clients on clients.child_id = latest_by_day.client_id
),

final as (
    select
        period_end,
        program,
        client_id,
        assessments_by_day,
        latest_assessment_date,
        first_total_score,
        latest_total_score,
        is_improved,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        locality,
    from with_client
)

select * from final
