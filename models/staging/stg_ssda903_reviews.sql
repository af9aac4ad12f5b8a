-- One row per statutory review of a looked-after child per SSDA903 return.
with source as not materialized (
    select * from raw.ssda903_reviews_checked  -- active rows not excluded; values a check cleared are null
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
            try_strptime(trim(review), '%d/%m/%Y'),
            try_strptime(trim(review), '%Y-%m-%d')
        )::date as review_date,
        nullif(upper(trim(review_code)), '') as participation_code,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
