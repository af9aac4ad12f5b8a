-- One row per child adopted in the year (AD1) per SSDA903 return.
with source as not materialized (
    select * from raw.ssda903_ad1_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct child as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        coalesce(
            try_strptime(trim(dob), '%d/%m/%Y'),
            try_strptime(trim(dob), '%Y-%m-%d')
        )::date as date_of_birth,
        coalesce(
            try_strptime(trim(date_int), '%d/%m/%Y'),
            try_strptime(trim(date_int), '%Y-%m-%d')
        )::date as decision_date,
        coalesce(
            try_strptime(trim(date_match), '%d/%m/%Y'),
            try_strptime(trim(date_match), '%Y-%m-%d')
        )::date as matched_date,
        case trim(foster_care) when '1' then true when '0' then false end as adopted_by_foster_carer,
        try_cast(trim(nb_adoptr) as integer) as number_of_adopters,
        nullif(upper(trim(sex_adoptr)), '') as adopter_sex,
        nullif(upper(trim(ls_adoptr)), '') as adopter_legal_status,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
