-- One row per pre-proceedings and family group decision making block per CIN census return (from
-- 2025-26); keyed to its episode of need by child_id and referral_date.
with source as not materialized (
    select * from raw.cin_pre_proceedings_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(cinreferraldate), ''), '%Y-%m-%d')::date as referral_date,
        try_strptime(nullif(trim(ppstartdate), ''), '%Y-%m-%d')::date as pp_start_date,
        try_strptime(nullif(trim(lbpsentdate), ''), '%Y-%m-%d')::date as letter_before_proceedings_date,
        nullif(upper(trim(fgdmmeetingoffer)), '') as fgdm_meeting_offered,
        nullif(upper(trim(fgdmmeetingfac)), '') as fgdm_meeting_facilitated,
        try_strptime(nullif(trim(initialppmeetingdate), ''), '%Y-%m-%d')::date as initial_pp_meeting_date,
        try_cast(trim(reviewmeetingscount) as integer) as review_meetings_count,
        try_strptime(nullif(trim(stepdecisiondate), ''), '%Y-%m-%d')::date as step_decision_date,
        nullif(upper(trim(ppoutcome)), '') as pp_outcome,
        try_strptime(nullif(trim(courtappdate), ''), '%Y-%m-%d')::date as court_application_date,
        try_strptime(nullif(trim(letterinitcpdate), ''), '%Y-%m-%d')::date as letter_initial_cp_date,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
