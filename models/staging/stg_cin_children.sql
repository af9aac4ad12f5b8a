-- One row per child per CIN census return; sex harmonised (GenderCurrent before 2024, Sex after).
with source as not materialized (
    select * from raw.cin_children_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct lachildid as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        try_strptime(nullif(trim(personbirthdate), ''), '%Y-%m-%d')::date as date_of_birth,
        case upper(trim(coalesce(nullif(trim(sex), ''), gendercurrent)))
            when '1' then 'M'
            when 'M' then 'M'
            when '2' then 'F'
            when 'F' then 'F'
            else 'U'
        end as sex,
        nullif(upper(trim(ethnicity)), '') as ethnic_code,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.lachildid = pseudonyms.id
)

select * from renamed
