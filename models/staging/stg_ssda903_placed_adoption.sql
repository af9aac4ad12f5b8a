-- One row per decision that a child should be placed for adoption (and its reversal, if any)
-- per SSDA903 return.
with source as not materialized (
    select * from raw.ssda903_placed_adoption_checked  -- active rows not excluded; values a check cleared are null
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
            try_strptime(trim(date_placed), '%d/%m/%Y'),
            try_strptime(trim(date_placed), '%Y-%m-%d')
        )::date as placed_decision_date,
        coalesce(
            try_strptime(trim(date_placed_ceased), '%d/%m/%Y'),
            try_strptime(trim(date_placed_ceased), '%Y-%m-%d')
        )::date as placed_ceased_date,
        nullif(upper(trim(reason_placed_ceased)), '') as reason_placed_ceased,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
