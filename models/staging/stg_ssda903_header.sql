-- One row per child per SSDA903 return; SEX harmonised across the 1/2 and M/F/U code lists.
with source as not materialized (
    select * from raw.ssda903_header_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct child as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        case upper(trim(sex))
            when '1' then 'M'
            when '2' then 'F'
            when 'M' then 'M'
            when 'F' then 'F'
            when 'U' then 'U'
        end as sex,
        coalesce(
            try_strptime(trim(dob), '%d/%m/%Y'),
            try_strptime(trim(dob), '%Y-%m-%d')
        )::date as date_of_birth,
        nullif(upper(trim(ethnic)), '') as ethnic_code,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
