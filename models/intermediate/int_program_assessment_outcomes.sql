-- One row per programme, client and month end for clients with 2 or more assessments (distinct
-- assessment_id) on enrolments of the programme by the day whose latest assessment by the day is
-- dated in the 12 months ending on it, (X - 1 year, X]. Flag: the latest assessment's total score
-- (sum over domains) is better than the first one's: higher if higher_is_better, else lower; a
-- tie is not better. Carries the client's sex, ethnicity, locality and age band at X.
-- materialized: view
with assessments as (
    select * from stg_case_assessments
    where coalesce(assessment_id, '') <> '' and assessment_date is not null
),

enrolments as (
    select * from int_program_enrolments
),

periods as (
    select * from int_case_periods
),

clients as (
    select * from int_child_attributes
    where source = 'case'
),

occasions as (
    select
        enrolments.program,
        enrolments.client_id,
        assessments.assessment_id,
        min(assessments.assessment_date) as assessment_date,
        sum(assessments.score) as total_score,
        bool_and(assessments.higher_is_better) as higher_is_better,
    from assessments
    inner join enrolments on enrolments.enrolment_id = assessments.enrolment_id
    group by enrolments.program, enrolments.client_id, assessments.assessment_id
),

sequenced as (
    select
        occasions.*,
        row_number() over client_occasions as occasion_number,
        first_value(total_score) over client_occasions as first_total_score,
        lead(assessment_date) over client_occasions as next_assessment_date,
    from occasions
    window client_occasions as (
        partition by program, client_id order by assessment_date, assessment_id
    )
),

-- An occasion is the latest by X from its own date until the next occasion's date.
latest_by_day as (
    select
        periods.period_end,
        sequenced.program,
        sequenced.client_id,
        sequenced.occasion_number as assessments_by_day,
        sequenced.assessment_date as latest_assessment_date,
        sequenced.total_score as latest_total_score,
        sequenced.first_total_score,
        case
            when sequenced.higher_is_better then sequenced.total_score > sequenced.first_total_score
            else sequenced.total_score < sequenced.first_total_score
        end as is_improved,
    from periods
    inner join sequenced
        on sequenced.assessment_date <= periods.period_end
        and sequenced.assessment_date > (periods.period_end - interval 1 year)::date
        and coalesce(sequenced.next_assessment_date, date '9999-12-31') > periods.period_end
    where sequenced.occasion_number >= 2
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
        coalesce(is_improved, false) as is_improved,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        locality,
    from with_client
)

select * from final
