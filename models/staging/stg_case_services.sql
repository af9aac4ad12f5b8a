-- One row per service delivered on an enrolment.
-- (a view: no identifier to pseudonymise, and one model reads only its dates; writing its
-- millions of rows cost more than reading them from raw)
-- materialized: view
with source as (
    select * from raw.case_services_checked  -- active rows not excluded; values a check cleared are null
),

renamed as (
    select
        trim(service_id) as service_id,
        trim(enrolment_id) as enrolment_id,
        coalesce(
            try_strptime(nullif(trim(service_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(service_date), ''), '%d/%m/%Y')
        )::date as service_date,
        nullif(trim(service_type), '') as service_type,
        try_cast(replace(trim(minutes), ',', '') as double) as minutes,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
)

select * from renamed
