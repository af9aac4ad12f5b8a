-- One row per domain score of an assessment.
with source as not materialized (
    select * from raw.case_assessments_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct client_id as id from source)
),

renamed as (
    select
        trim(assessment_id) as assessment_id,
        pseudonyms.pseudonym as client_id,
        nullif(trim(enrolment_id), '') as enrolment_id,
        coalesce(
            try_strptime(nullif(trim(assessment_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(assessment_date), ''), '%d/%m/%Y')
        )::date as assessment_date,
        nullif(trim(tool), '') as tool,
        nullif(trim(domain), '') as domain,
        try_cast(replace(trim(score), ',', '') as double) as score,
        coalesce(lower(trim(higher_is_better)) in ('true', 't', 'yes', 'y', '1'), true) as higher_is_better,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.client_id = pseudonyms.id
)

select * from renamed
