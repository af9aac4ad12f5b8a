-- One row per child starting care with their previous permanence option per SSDA903 return;
-- DATE_PERM may give ZZ for an unknown day or month: the date only when complete, its year when known.
with source as not materialized (
    select * from raw.ssda903_prev_perm_checked  -- active rows not excluded; values a check cleared are null
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
        nullif(upper(trim(prev_perm)), '') as prev_perm,
        nullif(upper(trim(la_perm)), '') as prev_perm_la,
        coalesce(
            try_strptime(trim(date_perm), '%d/%m/%Y'),
            try_strptime(trim(date_perm), '%Y-%m-%d')
        )::date as prev_perm_date,
        try_cast(regexp_extract(trim(date_perm), '/([0-9]{4})$', 1) as integer) as prev_perm_year,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
