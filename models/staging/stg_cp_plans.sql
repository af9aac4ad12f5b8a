-- One row per child protection plan per CIN census return (a plan repeats while it is open).
with source as not materialized (
    select * from raw.cin_cp_plans_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(cinreferraldate), ''), '%Y-%m-%d')::date as cin_referral_date,
        try_strptime(nullif(trim(cppstartdate), ''), '%Y-%m-%d')::date as cpp_start_date,
        try_strptime(nullif(trim(cppenddate), ''), '%Y-%m-%d')::date as cpp_end_date,
        nullif(upper(trim(initialcategoryofabuse)), '') as initial_category_of_abuse,
        nullif(upper(trim(latestcategoryofabuse)), '') as latest_category_of_abuse,
        coalesce(try_cast(trim(numberofpreviouscpp) as integer), 0) as number_of_previous_cpp,
        nullif(upper(trim(primaryneedcode)), '') as primary_need_code,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
