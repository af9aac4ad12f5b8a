-- One row per month end the case export covers: from the month of the earliest enrolment start
-- to the month of the latest date recorded in the export (enrolment starts, services, service
-- plans, assessments; end dates are left out as they may be planned ones).
with enrolments as (
    select start_date as recorded_on from stg_case_enrolments
),

services as (
    select service_date as recorded_on from stg_case_services
),

service_plans as (
    select plan_date as recorded_on from stg_case_service_plans
),

assessments as (
    select assessment_date as recorded_on from stg_case_assessments
),

coverage as (
    select
        (select min(recorded_on) from enrolments) as first_day,
        max(recorded_on) as last_day,
    from (
        select * from enrolments
        union all
        select * from services
        union all
        select * from service_plans
        union all
        select * from assessments
    ) as recorded
),

final as (
    select distinct months.period_end,
    from coverage
    cross join month_ends(coverage.first_day, coverage.last_day) as months
    where coverage.first_day is not null and coverage.last_day is not null
)

select * from final order by period_end
