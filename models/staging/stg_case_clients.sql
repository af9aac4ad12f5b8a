-- One row per client of the case export; postcode cut to its district.
with source as not materialized (
    select * from raw.case_clients_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct client_id as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as client_id,
        coalesce(
            try_strptime(nullif(trim(date_of_birth), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(date_of_birth), ''), '%d/%m/%Y')
        )::date as date_of_birth,
        case upper(trim(sex))
            when 'M' then 'M'
            when 'MALE' then 'M'
            when '1' then 'M'
            when 'F' then 'F'
            when 'FEMALE' then 'F'
            when '2' then 'F'
            else 'U'
        end as sex,
        nullif(upper(trim(ethnicity)), '') as ethnic_code,
        -- Postcode district only (outward code), whether a district or a full postcode was given.
        nullif(upper(case
            when length(replace(trim(postcode_district), ' ', '')) >= 5
                and regexp_full_match(upper(replace(trim(postcode_district), ' ', '')), '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                then left(replace(trim(postcode_district), ' ', ''), length(replace(trim(postcode_district), ' ', '')) - 3)
            else split_part(trim(postcode_district), ' ', 1)
        end), '') as postcode_district,
        coalesce(
            try_strptime(nullif(trim(intake_date), ''), '%Y-%m-%d'),
            try_strptime(nullif(trim(intake_date), ''), '%d/%m/%Y')
        )::date as intake_date,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.client_id = pseudonyms.id
)

select * from renamed
