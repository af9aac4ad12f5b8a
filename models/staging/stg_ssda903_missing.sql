-- One row per missing (M) or away from placement (A) episode per SSDA903 return.
with source as not materialized (
    select * from raw.ssda903_missing_checked  -- active rows not excluded; values a check cleared are null
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
        nullif(upper(trim(missing)), '') as missing_type,
        coalesce(
            try_strptime(trim(mis_start), '%d/%m/%Y'),
            try_strptime(trim(mis_start), '%Y-%m-%d')
        )::date as missing_start,
        coalesce(
            try_strptime(trim(mis_end), '%d/%m/%Y'),
            try_strptime(trim(mis_end), '%Y-%m-%d')
        )::date as missing_end,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
