-- One row per social worker episode of a looked-after child per SSDA903 return (from 2023-24);
-- the social worker's id is pseudonymised like the child's.
with source as not materialized (
    select * from raw.ssda903_sw_episodes_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct child as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        pseudonym(sw_id) as social_worker_id,
        coalesce(
            try_strptime(trim(dob), '%d/%m/%Y'),
            try_strptime(trim(dob), '%Y-%m-%d')
        )::date as date_of_birth,
        coalesce(
            try_strptime(trim(sw_decom), '%d/%m/%Y'),
            try_strptime(trim(sw_decom), '%Y-%m-%d')
        )::date as sw_start,
        coalesce(
            try_strptime(trim(sw_dec), '%d/%m/%Y'),
            try_strptime(trim(sw_dec), '%Y-%m-%d')
        )::date as sw_end,
        nullif(upper(trim(sw_reason)), '') as sw_change_reason,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
