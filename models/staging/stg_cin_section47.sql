-- One row per section 47 enquiry per CIN census return, with its initial child protection
-- conference; keyed to its episode of need by child_id and referral_date.
with source as not materialized (
    select * from raw.cin_section47_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(cinreferraldate), ''), '%Y-%m-%d')::date as referral_date,
        try_strptime(nullif(trim(s47actualstartdate), ''), '%Y-%m-%d')::date as s47_start_date,
        try_strptime(nullif(trim(initialcpctarget), ''), '%Y-%m-%d')::date as icpc_target_date,
        try_strptime(nullif(trim(dateofinitialcpc), ''), '%Y-%m-%d')::date as icpc_date,
        upper(trim(icpcnotrequired)) in ('1', 'TRUE') as icpc_not_required,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
