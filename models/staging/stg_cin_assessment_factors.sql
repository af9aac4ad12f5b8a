-- One row per factor identified at an assessment per CIN census return; keyed to its assessment
-- by child_id, referral_date and assessment_start_date.
with source as not materialized (
    select * from raw.cin_assessment_factors_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(cinreferraldate), ''), '%Y-%m-%d')::date as referral_date,
        try_strptime(nullif(trim(assessmentactualstartdate), ''), '%Y-%m-%d')::date as assessment_start_date,
        nullif(upper(trim(assessmentfactor)), '') as assessment_factor,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
