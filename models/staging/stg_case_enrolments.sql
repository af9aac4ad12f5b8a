-- One row per enrolment of a client in a programme.
with source as not materialized (
    select * from raw.case_enrolments_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct client_id as id from source)
),

renamed as (
    select
        trim(enrolment_id) as enrolment_id,
        pseudonyms.pseudonym as client_id,
        trim(program) as program,
        coalesce(
            try_strptime(nullif(trim(start_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(start_date), ''), '%d/%m/%Y')
        )::date as start_date,
        coalesce(
            try_strptime(nullif(trim(end_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(end_date), ''), '%d/%m/%Y')
        )::date as end_date,
        nullif(trim(exit_reason), '') as exit_reason,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.client_id = pseudonyms.id
)

select * from renamed
