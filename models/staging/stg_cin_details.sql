-- One row per episode of need (CINdetails) per CIN census return.
with source as (
    select * from raw.cin_details
    where _active and not _quarantined
),

renamed as (
    select
        pseudonym(lachildid) as child_id,
        child_id || ':' || trim(cinreferraldate) as cin_id,
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
)

select * from renamed
