-- One row per episode of need (CINdetails) per CIN census return; an episode is keyed by
-- child_id and referral_date (a child protection plan names its episode the same way).
with source as not materialized (
    select * from raw.cin_details_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(cinreferraldate), ''), '%Y-%m-%d')::date as referral_date,
        nullif(upper(trim(referralsource)), '') as referral_source,
        nullif(upper(trim(primaryneedcode)), '') as primary_need_code,
        try_strptime(nullif(trim(cinclosuredate), ''), '%Y-%m-%d')::date as closure_date,
        nullif(upper(trim(reasonforclosure)), '') as reason_for_closure,
        upper(trim(referralnfa)) in ('1', 'TRUE') as referral_nfa,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
