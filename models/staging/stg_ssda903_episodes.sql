-- One row per episode row of each active SSDA903 return, typed and tidied; rows excluded by a check left out (values a check cleared are null).
with source as not materialized (
    select * from raw.ssda903_episodes_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct child as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        coalesce(
            try_strptime(trim(decom), '%d/%m/%Y'),
            try_strptime(trim(decom), '%Y-%m-%d')
        )::date as decom,
        nullif(upper(trim(rne)), '') as rne,
        nullif(upper(trim(ls)), '') as ls,
        nullif(upper(trim(cin)), '') as cin,
        nullif(upper(trim(place)), '') as place,
        nullif(upper(trim(place_provider)), '') as place_provider,
        coalesce(
            try_strptime(trim(dec), '%d/%m/%Y'),
            try_strptime(trim(dec), '%Y-%m-%d')
        )::date as dec,
        nullif(upper(trim(rec)), '') as rec,
        nullif(upper(trim(reason_place_change)), '') as reason_place_change,
        -- Postcode district (outward code) only: a full postcode is never kept beyond raw.
        case
            when regexp_full_match(upper(replace(home_post, ' ', '')), '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                then left(upper(replace(home_post, ' ', '')), length(replace(home_post, ' ', '')) - 3)
        end as home_postcode_district,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
