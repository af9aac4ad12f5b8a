-- One row per assessment (child + AssessmentActualStartDate) across every CIN census return: the
-- newest return wins (an assessment in progress at one census is authorised by the next), with
-- the working days from its start to its authorisation (int_calendar: the day after the start
-- to the authorisation inclusive) and whether that is within 45.
with assessments as (
    select * from stg_cin_assessments
    where assessment_start_date is not null and child_id is not null
),

latest as (
    select * from assessments
    qualify row_number() over (
        partition by child_id, assessment_start_date
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

calendar as (
    select * from int_calendar
),

final as (
    select
        latest.child_id,
        latest.referral_date,
        latest.assessment_start_date,
        latest.assessment_authorisation_date,
        authorised.working_day_number - started.working_day_number as working_days,
        authorised.working_day_number - started.working_day_number <= 45 as is_within_45_working_days,
        latest.collection_year,
        latest.source_file,
        latest.source_row_number,
    from latest
    left join calendar as started on started.calendar_date = latest.assessment_start_date
    left join calendar as authorised on authorised.calendar_date = latest.assessment_authorisation_date
)

select * from final
