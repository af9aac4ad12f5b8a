-- One row per service plan agreed on an enrolment.
with source as (
    select * from raw.case_service_plans_checked  -- active rows not excluded; values a check cleared are null
),

renamed as (
    select
        trim(plan_id) as plan_id,
        trim(enrolment_id) as enrolment_id,
        coalesce(
            try_strptime(nullif(trim(plan_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(plan_date), ''), '%d/%m/%Y')
        )::date as plan_date,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
)

select * from renamed
