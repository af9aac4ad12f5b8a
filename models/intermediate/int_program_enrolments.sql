-- One row per enrolment of a client in a programme (case export), with the client's labelled
-- attributes and whether a service plan is dated from the start date to 30 days after it.
with enrolments as (
    select * from stg_case_enrolments
    where coalesce(enrolment_id, '') <> ''
        and start_date is not null
        and coalesce(program, '') <> ''
),

service_plans as (
    select * from stg_case_service_plans
    where plan_date is not null
),

clients as (
    select * from int_child_attributes
    where source = 'case'
),

one_row as (
    select * from enrolments
    qualify row_number() over (
        partition by enrolment_id order by source_file desc, source_row_number desc
    ) = 1
),

timely_plans as (
    select distinct one_row.enrolment_id
    from one_row
    inner join service_plans
        on service_plans.enrolment_id = one_row.enrolment_id
        and service_plans.plan_date >= one_row.start_date
        and service_plans.plan_date <= one_row.start_date + 30
),

final as (
    select
        one_row.enrolment_id,
        one_row.client_id,
        one_row.program,
        one_row.start_date,
        one_row.end_date,
        one_row.exit_reason,
        timely_plans.enrolment_id is not null as has_plan_within_30d,
        clients.date_of_birth,
        coalesce(clients.sex, 'Unknown') as sex,
        coalesce(clients.ethnicity, 'Unknown') as ethnicity,
        coalesce(clients.postcode_district, 'Unknown') as locality,
    from one_row
    left join timely_plans on timely_plans.enrolment_id = one_row.enrolment_id
    left join clients on clients.child_id = one_row.client_id
)

select * from final
